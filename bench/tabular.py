"""The product on a table as a new user runs it, against gradient boosting and ridge regression on the same split.

Writes a sample table, drafts its spec with `init-spec` (used exactly as
drafted unless --model overrides a model setting, for measuring defaults),
runs preprocess and train (the README's commands, through the functions they
call), then fits scikit-learn's HistGradientBoostingRegressor (categories
native) and a one-hot RidgeCV on the same train rows, the raw columns the
spec's features read.  The eval rows are the ones the preprocess job held
out: the same stable hash of the spec's split key (beam_jobs/split.py),
checked against the job's row counts and train label mean.  Prints RMSE of the
model-scale label (log(price) for prices) for each, and the ratios.

    python bench/tabular.py [--kind housing-wide|housing] [--rows N] [--seed 7] [--model ensemble=1 ...]
"""

from __future__ import annotations

import argparse
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
from beam_jobs.sample_data import HousingSample, write_housing_sample  # noqa: E402
from beam_jobs.sample_housing_wide import WideHousingSample, write_wide_housing_sample  # noqa: E402
from beam_jobs.split import eval_mask  # noqa: E402
from embedflow.init_spec import InitSpecConfig, init_spec  # noqa: E402
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
    mean = float(spec.label.to_model_scale(train.column(spec.label.column).to_numpy().astype(np.float64)).mean())
    if not np.isclose(mean, manifest["label"]["train_mean"], rtol=1e-6):
        raise SystemExit(f"split mismatch: train label mean {mean} here, {manifest['label']['train_mean']} in the job")
    return train, table.filter(pa.array(to_eval))


def references(spec: FeatureSpec, train: pa.Table, held_out: pa.Table) -> dict[str, float]:
    """Eval RMSE (model scale) of HistGradientBoosting and a one-hot RidgeCV on the features' raw columns."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
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

    x_train, x_eval = frame(train), frame(held_out)
    y_train = spec.label.to_model_scale(train.column(label).to_numpy().astype(np.float64))
    y_eval = spec.label.to_model_scale(held_out.column(label).to_numpy().astype(np.float64))
    ridge = make_pipeline(
        ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), text),
                           ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                                     StandardScaler()), numbers)]),
        RidgeCV(alphas=np.logspace(-3, 3, 25)))
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan).fit(x_train[text])
    encoded_train, encoded_eval = x_train.copy(), x_eval.copy()
    encoded_train[text], encoded_eval[text] = ordinal.transform(x_train[text]), ordinal.transform(x_eval[text])
    hgb = HistGradientBoostingRegressor(categorical_features=[n in text for n in names], random_state=0)
    out = {}
    for name, model, (fit_x, eval_x) in (("HistGradientBoosting", hgb, (encoded_train, encoded_eval)),
                                         ("one-hot RidgeCV", ridge, (x_train, x_eval))):
        model.fit(fit_x, y_train)
        out[name] = float(np.sqrt(np.mean((model.predict(eval_x) - y_eval) ** 2)))
    return out


def apply_model_overrides(spec_path: str, overrides: list[str]) -> None:
    """Rewrite model settings of the drafted spec (key=value, YAML values), for measuring defaults."""
    with open(spec_path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    for item in overrides:
        key, _, value = item.partition("=")
        raw["model"][key] = yaml.safe_load(value)
    with open(spec_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(raw, f, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(SAMPLES), default="housing-wide")
    parser.add_argument("--rows", type=int, help="sample rows (default: the sample's own)")
    parser.add_argument("--seed", type=int, default=7, help="the sample's seed")
    parser.add_argument("--train-seed", type=int, default=42)
    parser.add_argument("--model", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override model settings of the drafted spec (default: none, the spec as drafted)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="tabular_")
    table = SAMPLES[args.kind](os.path.join(root, "data"), args.rows, args.seed)
    spec_path = init_spec(InitSpecConfig(input=table, output=os.path.join(root, "spec.yaml")))
    if args.model:
        apply_model_overrides(spec_path, args.model)
    spec = load_spec(spec_path)
    prep = os.path.join(root, "prep")
    manifest = preprocess.run(spec, table, prep)
    started = time.time()
    result = task.train(TrainConfig(input=prep, job_dir=os.path.join(root, "job"), seed=args.train_seed))
    train_seconds = time.time() - started
    train_rows, eval_rows = read_split(spec, table, manifest)
    figures = {"embedflow (init-spec as drafted)" if not args.model else f"embedflow ({' '.join(args.model)})":
               result.metrics["model"]["rmse"], **references(spec, train_rows, eval_rows)}
    product = next(iter(figures.values()))
    scale = "log(label)" if spec.label.transform == "log" else "label"
    print(f"\n{args.kind} sample (seed {args.seed}): {train_rows.num_rows} train / {eval_rows.num_rows} eval rows, "
          f"{len(spec.columns)} columns, {len(spec.features)} features; trained in {train_seconds:.0f} s, "
          f"best epoch {result.metrics['best_epoch']} of {result.metrics['epochs_trained']}")
    print(f"  {'model':<40} {'RMSE ' + scale:>16} {'embedflow / this':>17}")
    for name, rmse in figures.items():
        print(f"  {name:<40} {rmse:>16.4f} {product / rmse:>17.3f}")
    print(f"  {'predict the mean':<40} {result.metrics['baseline_mean']['rmse']:>16.4f}")


if __name__ == "__main__":
    main()
