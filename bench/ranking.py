"""The product's top-10 lists and ratings against most-popular, EASE, iALS, bias-only and SVD++, on a held-out 20%.

A seeded random 80/20 split of the RATINGS of a MovieLens folder (the
default sample, or any ml-latest-style folder with `--input`).  The 80% is
written as a MovieLens folder and the product is run on it through its CLI,
as the README shows:

    embedflow preprocess --input <train folder> --output <work>/prep
    embedflow train --input <work>/prep --job-dir <work>/job
    embedflow recommend-all --model <work>/job/model --output <work>/recs -k 10

(preprocess splits its input again, by hash, into its own train/eval, and
the trainer cuts its validation slice from that train part; the bench
scores only on its own held-out 20%.)  Protocol: relevant items are a
user's held-out ratings >= 4; items the user rated in the 80% are never
recommended; users with at least one relevant item are scored.  References,
from the same split, each in its own best configuration: most popular
(ratings in the 80%), EASE (closed form, lambda chosen on a validation slice
of the 80%), iALS (`implicit`, 32 factors, confidence and regularisation
chosen on the same slice).  Ratings: the RMSE of the exported SavedModel's
`predict` signature on the held-out ratings, next to a bias-only baseline
and SVD++ (`surprise`, its defaults) fitted on the 80%, and the global mean.

The sample is calibrated to rank the references as real ratings do; the
bench prints the four ratios next to the real ones (CALIBRATION).  With
`--seeds 0,1,2` each seed draws a new sample (sample seed 7 + s) and split
(seed s) and a summary of the means follows.  `--references-only` skips the
product (for calibrating the sample).

    python bench/ranking.py [--input FOLDER] [--work DIR] [--seeds 0] [--epochs N] [--spec SPEC] [--references-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from embedflow.ratings_stats import folder_stats, stats_table  # noqa: E402
from bench import reference_models  # noqa: E402
from bench.results import add_results_option, write_results  # noqa: E402
from trainer import references as ref  # noqa: E402
from trainer.metrics import BiasBaseline, regression_metrics  # noqa: E402

K = 10
HELD_OUT = 0.2
SAMPLE_SEED = 7
# The references' ratios on real MovieLens ratings (random 80/20 split, the protocol above), which the sample is
# calibrated to: (name, real value, tolerance, relative?).
CALIBRATION = (("EASE / most popular", 1.96, 0.05, True), ("iALS / EASE", 0.91, 0.05, True),
               ("SVD++ / bias-only RMSE", 0.991, 0.005, False), ("bias-only / global-mean RMSE", 0.848, 0.02, False))


def split_arguments(description: str, work_holds: str) -> argparse.ArgumentParser:
    """The options every bench on this split takes (data, work folder, seeds, the product's epochs and spec)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="a MovieLens folder with ratings.csv and movies.csv (default: the sample)")
    parser.add_argument("--work", help=f"folder for the split, {work_holds} (default: a temp dir)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds of the 80/20 split (and of the sample)")
    parser.add_argument("--epochs", type=int, help="passed to `embedflow train`")
    parser.add_argument("--spec", help="passed to `embedflow preprocess` (default: the built-in movielens spec)")
    return parser


def main() -> None:
    parser = split_arguments(__doc__, "preprocess output, model and lists")
    parser.add_argument("--references-only", action="store_true", help="skip the product: references and ratios")
    add_results_option(parser)
    args = parser.parse_args()

    root = args.work or tempfile.mkdtemp(prefix="bench_ranking_")
    runs, rows = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        work = os.path.join(root, f"seed{seed}")
        if os.path.exists(work):
            shutil.rmtree(work)
        os.makedirs(work)
        print(f"\n=== seed {seed} ===")
        figures, row = run_split(args, work, seed)
        runs.append(figures)
        rows.append([seed] + [row.get(name) for name in TABLE])
    if len(runs) > 1:
        _print_summary(runs)
        rows.append(["mean"] + [_mean([r[i + 1] for r in rows]) for i in range(len(TABLE))])
    means = {name: float(np.mean([r[name] for r in runs])) for name, *_ in CALIBRATION}
    write_results(args.results, ["seed"] + list(TABLE), rows,
                  [f"recall@{K} on held-out ratings >= {ref.POSITIVE_RATING:g}; RMSE of the held-out ratings",
                   "calibration ratios (mean; real MovieLens): " + ", ".join(
                       f"{name} {means[name]:.3f} ({real:g})" for name, real, *_ in CALIBRATION)])


# The results table's columns (--results): recall@10 of each method, RMSE of each rating model, and their ratios.
TABLE = ("most popular", "EASE", "iALS", "product", "product / EASE", "product / iALS", "product / most popular",
         "RMSE product", "RMSE bias-only", "RMSE SVD++", "product / bias-only RMSE", "product / SVD++ RMSE")


def _mean(values: list) -> float | None:
    return None if any(v is None for v in values) else round(float(np.mean(values)), 4)


def run_split(args: argparse.Namespace, work: str, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """One seeded split: every method's lists and ratings; returns the figures the summary averages and the
    results table's row (TABLE's columns)."""
    split = split_ratings(args.input, work, seed)
    table, held, train, test, user_ids, item_ids = (split.table, split.held, split.train, split.test, split.user_ids,
                                                    split.item_ids)
    timings = {} if args.references_only else {"product": run_product(split.train_dir, work, args.epochs, args.spec)}
    users = ref.users_to_score(test)
    results = {}
    t = time.time()
    results["most popular"] = _score(ref.top_k_unrated(ref.popularity_scorer(train), train, users, K), users, test)
    timings["most popular"] = time.time() - t
    t = time.time()
    l2, by_l2 = ref.choose_ease_l2(train)
    weights = ref.ease_weights(ref.gram(train), l2)
    results["EASE"] = _score(ref.top_k_unrated(ref.ease_scorer(train, weights), train, users, K), users, test)
    timings["EASE"] = time.time() - t
    t = time.time()
    ials_top, by_setting = reference_models.ials_top_k(train, users, K, seed)
    results["iALS"] = _score(ials_top, users, test)
    timings["iALS"] = time.time() - t
    if not args.references_only:
        product_top, leaked = _product_lists(os.path.join(work, "recs"), user_ids, item_ids, train, users)
        results["product"] = _score(product_top, users, test)
        if leaked:
            print(f"warning: {leaked} product recommendations were items the user rated in the train part")

    print(f"\nChosen on a validation slice of the 80%: EASE lambda {l2:g} (recall@{K} "
          + ", ".join(f"{k:g}: {v:.4f}" for k, v in by_l2.items()) + f"); iALS alpha, l2 "
          + "{:g}, {:g}".format(*max(by_setting, key=by_setting.get)))
    print(f"\nTop-{K} on the held-out {HELD_OUT:.0%} ({len(users):,} users with a held-out rating >= "
          f"{ref.POSITIVE_RATING:g}); recall@{K}* divides hits by min({K}, relevant) instead of relevant")
    print(f"{'method':<26} {'recall@10':>9} {'NDCG@10':>8} {'recall@10*':>10} {'seconds':>8}")
    for name, m in results.items():
        print(f"{name:<26} {m['recall']:>9.4f} {m['ndcg']:>8.4f} {m['recall_capped']:>10.4f} {timings[name]:>8.0f}")
    figures = {f"{a} / {b}": results[a]["recall"] / results[b]["recall"]
               for a, b in (("EASE", "most popular"), ("iALS", "EASE"))}
    if "product" in results:
        for name in ("most popular", "EASE", "iALS"):
            ratio = {key: results["product"][key] / results[name][key] for key in ("recall", "ndcg", "recall_capped")}
            figures[f"product / {name}"] = ratio["recall"]
            print(f"{'product / ' + name:<26} {ratio['recall']:>9.2f} {ratio['ndcg']:>8.2f} "
                  f"{ratio['recall_capped']:>10.2f}")
    rmse_figures, rmse = _print_rmse(work, table, held, train, test, seed, product=not args.references_only)
    figures.update(rmse_figures)
    _print_calibration(figures)
    row = {name: round(m["recall"], 4) for name, m in results.items()}
    row.update({f"RMSE {name.split(' (')[0]}": round(value, 4) for name, value in rmse.items()})
    row.update({name: round(figures[name], 3) for name in TABLE if name in figures})
    return figures, row


@dataclasses.dataclass(frozen=True)
class Split:
    """One seeded 80/20 split of a MovieLens folder's ratings: the 80% written as a folder, both as index arrays."""

    table: pa.Table            # every rating of the input
    held: np.ndarray           # the held-out 20% (mask over `table`)
    train_dir: str             # the 80% as a MovieLens folder (ratings.csv, movies.csv)
    train: ref.RatingArrays
    test: ref.RatingArrays
    user_ids: np.ndarray       # raw ids of the index positions
    item_ids: np.ndarray
    source: str                # the input folder (the sample's when none was given)


def split_ratings(input_dir: str | None, work: str, seed: int) -> Split:
    """Split `input_dir` (default: the calibrated sample drawn with SAMPLE_SEED + seed) with `seed` under `work`."""
    source = input_dir or _write_sample(os.path.join(work, "data"), SAMPLE_SEED + seed)
    for name in ("ratings.csv", "movies.csv"):
        if not os.path.exists(os.path.join(source, name)):
            sys.exit(f"error: {source} has no {name}; --input takes an ml-latest-style MovieLens folder")
    print(stats_table(folder_stats(source), names=("input", "ml-latest-small")) + "\n")

    table = pacsv.read_csv(os.path.join(source, "ratings.csv"))
    held = ref.holdout_split(table.num_rows, HELD_OUT, seed)
    train_dir = os.path.join(work, "train")
    os.makedirs(train_dir, exist_ok=True)  # a rerun over the same work folder writes the same split
    pacsv.write_csv(table.filter(pa.array(~held)), os.path.join(train_dir, "ratings.csv"))
    shutil.copy(os.path.join(source, "movies.csv"), train_dir)
    train, test, user_ids, item_ids = _interactions(table, held)
    print(f"Split {table.num_rows:,} ratings (seed {seed}): {len(train.users):,} to train, "
          f"{len(test.users):,} held out; {train.n_items - 1:,} items in the train part")
    return Split(table, held, train_dir, train, test, user_ids, item_ids, source)


def _write_sample(folder: str, seed: int) -> str:
    from embedflow.sample_tables import RatingsSample, write_ratings_sample

    write_ratings_sample(folder, RatingsSample(seed=seed))
    return folder


def _interactions(table: pa.Table, held: np.ndarray) -> tuple[ref.RatingArrays, ref.RatingArrays, np.ndarray,
                                                                np.ndarray]:
    """Train and held-out interactions over one index: users of the whole table, items of the train part.

    Held-out items never rated in the train part go to one extra index no
    method can recommend: they stay relevant (they count against recall) for all.
    """
    raw_users, raw_items = table.column("userId").to_numpy(), table.column("movieId").to_numpy()
    ratings = table.column("rating").to_numpy().astype(np.float64)
    user_ids = np.unique(raw_users)
    item_ids = np.unique(raw_items[~held])
    users = np.searchsorted(user_ids, raw_users)
    pos = np.minimum(np.searchsorted(item_ids, raw_items), len(item_ids) - 1)
    items = np.where(item_ids[pos] == raw_items, pos, len(item_ids))
    everything = ref.RatingArrays(users, items, ratings, len(user_ids), len(item_ids) + 1)
    return everything.subset(~held), everything.subset(held), user_ids, item_ids


def run_product(train_dir: str, work: str, epochs: int | None, spec: str | None,
                recommend_all: bool = True) -> float:
    """The README's commands (preprocess, train, and recommend-all unless told not to); returns their wall time.

    The model lands in `<work>/job/model`, the lists in `<work>/recs`.
    """
    cli = [sys.executable, "-m", "embedflow.cli"]
    steps = [
        ["preprocess", "--input", train_dir, "--output", os.path.join(work, "prep")] + (["--spec", spec] if spec else []),
        ["train", "--input", os.path.join(work, "prep"), "--job-dir", os.path.join(work, "job")]
        + (["--epochs", str(epochs)] if epochs else []),
    ] + ([["recommend-all", "--model", os.path.join(work, "job", "model"), "--output", os.path.join(work, "recs"),
           "-k", str(K)]] if recommend_all else [])
    t = time.time()
    for step in steps:
        print("$ embedflow " + " ".join(step), flush=True)
        done = subprocess.run(cli + step, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"error: embedflow {step[0]} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        if step[0] == "train":
            print("\n".join("  " + line for line in done.stdout.strip().splitlines()[-8:]))
    return time.time() - t


def _product_lists(recs_dir: str, user_ids: np.ndarray, item_ids: np.ndarray, train: ref.RatingArrays,
                   users: np.ndarray) -> tuple[np.ndarray, int]:
    """recommend-all's lists as a (len(users), K) index matrix (-1 where a list is short or missing).

    Also counts recommended items the user rated in the train part (there should be none).
    """
    recs = pq.read_table(sorted(glob.glob(os.path.join(recs_dir, "recommendations-*.parquet"))))
    user = np.searchsorted(user_ids, recs.column("user_id").to_numpy(zero_copy_only=False).astype(np.int64))
    raw_item = recs.column("item_id").to_numpy(zero_copy_only=False).astype(np.int64)
    pos = np.minimum(np.searchsorted(item_ids, raw_item), len(item_ids) - 1)
    item = np.where(item_ids[pos] == raw_item, pos, -1)
    rank = recs.column("rank").to_numpy().astype(np.int64)
    rank -= rank.min()  # 0- or 1-based
    lists = np.full((train.n_users, K), -1, np.int64)
    lists[user, rank] = item
    indptr, indices = train.csr()
    rated = set(zip(np.repeat(np.arange(train.n_users), np.diff(indptr)).tolist(), indices.tolist()))
    leaked = sum((u, i) in rated for u, i in zip(user.tolist(), item.tolist()))
    return lists[users], leaked


def _score(top: np.ndarray, users: np.ndarray, test: ref.RatingArrays) -> dict[str, float]:
    metrics = ref.evaluate_top_k(top, users, test, K)
    return {"recall": metrics[f"recall@{K}"], "ndcg": metrics[f"ndcg@{K}"],
            "recall_capped": ref.capped_recall(top, users, test, K)}


def _print_rmse(work: str, table: pa.Table, held: np.ndarray, train: ref.RatingArrays, test: ref.RatingArrays,
                seed: int, product: bool) -> tuple[dict[str, float], dict[str, float]]:
    """RMSE on the held-out ratings: the SavedModel's `predict` from raw ids, bias-only, SVD++, the global mean;
    returns the ratios and the RMSEs."""
    rmse = {}
    if product:
        rmse["product (SavedModel predict)"] = regression_metrics(table.filter(pa.array(held)).column("rating")
                                                                  .to_numpy().astype(np.float64),
                                                                  _saved_model_predictions(work, table, held))["rmse"]
    bias = BiasBaseline().fit(train.users, train.items, train.ratings, train.n_users, train.n_items)
    rmse["bias-only"] = regression_metrics(test.ratings, bias.predict(test.users, test.items))["rmse"]
    rmse["SVD++"] = regression_metrics(test.ratings, reference_models.svdpp_predictions(train, test, seed))["rmse"]
    rmse["global mean"] = float(np.sqrt(np.mean((test.ratings - train.ratings.mean()) ** 2)))
    print(f"\nRMSE on the held-out {len(test.ratings):,} ratings (references fitted on the 80%)")
    for name, value in rmse.items():
        print(f"{name:<30} {value:.4f}   {value / rmse['bias-only']:.3f}x bias-only")
    figures = {"SVD++ / bias-only RMSE": rmse["SVD++"] / rmse["bias-only"],
               "bias-only / global-mean RMSE": rmse["bias-only"] / rmse["global mean"]}
    if product:
        figures["product / bias-only RMSE"] = rmse["product (SavedModel predict)"] / rmse["bias-only"]
        figures["product / SVD++ RMSE"] = rmse["product (SavedModel predict)"] / rmse["SVD++"]
    return figures, rmse


def _saved_model_predictions(work: str, table: pa.Table, held: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    version = sorted(glob.glob(os.path.join(work, "job", "model", "*", "saved_model.pb")))[-1]
    predict = tf.saved_model.load(os.path.dirname(version)).signatures["predict"]
    test_table = table.filter(pa.array(held))
    users = test_table.column("userId").to_numpy().astype(np.int64)
    movies = test_table.column("movieId").to_numpy().astype(np.int64)
    return np.concatenate([
        predict(userId=tf.constant(users[s:s + 8192]), movieId=tf.constant(movies[s:s + 8192]))["prediction"]
        .numpy().reshape(-1) for s in range(0, len(users), 8192)])


def _print_calibration(figures: dict[str, float]) -> None:
    """The references' ratios on this data next to real ratings' (the sample's calibration targets)."""
    print(f"\n{'calibration ratio':<30} {'here':>7} {'real':>7}  within")
    for name, real, tolerance, relative in CALIBRATION:
        band = tolerance * real if relative else tolerance
        ok = abs(figures[name] - real) <= band
        print(f"{name:<30} {figures[name]:>7.3f} {real:>7.3f}  {'yes' if ok else 'no'} (+-{band:.3f})")


def _print_summary(runs: list[dict[str, float]]) -> None:
    print(f"\n=== mean over {len(runs)} seeds (min - max) ===")
    for name in runs[0]:
        values = np.array([r[name] for r in runs])
        print(f"{name:<30} {values.mean():.3f}  ({values.min():.3f} - {values.max():.3f})")
    _print_calibration({name: float(np.mean([r[name] for r in runs])) for name in runs[0]})


if __name__ == "__main__":
    main()
