"""The product's top-10 lists against most-popular and EASE, on a held-out 20% of ratings.

A seeded random 80/20 split of the RATINGS of a MovieLens folder (the
default sample, or any ml-latest-style folder with `--input`).  The 80% is
written as a MovieLens folder and the product is run on it through its CLI,
as the README shows:

    embedflow preprocess --input <train folder> --output <work>/prep
    embedflow train --input <work>/prep --job-dir <work>/job
    embedflow recommend-all --model <work>/job/model --output <work>/recs -k 10

(preprocess splits its input again, by hash, into its own train/eval; the
bench scores only on its own held-out 20%.)  Protocol: relevant items are a
user's held-out ratings >= 4; items the user rated in the 80% are never
recommended; users with at least one relevant item are scored.  References,
from the same split: most popular (ratings in the 80%) and EASE (closed form,
lambda chosen on a validation slice of the 80%).  Also the RMSE of the
exported SavedModel's `predict` signature on the held-out ratings, next to a
bias-only baseline fitted on the 80%.

    python bench/ranking.py [--input FOLDER] [--work DIR] [--seed 0] [--epochs N] [--spec SPEC]
"""

from __future__ import annotations

import argparse
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

from beam_jobs.ratings_stats import folder_stats, stats_table  # noqa: E402
from trainer import references as ref  # noqa: E402
from trainer.metrics import BiasBaseline, regression_metrics  # noqa: E402

K = 10
HELD_OUT = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="a MovieLens folder with ratings.csv and movies.csv (default: the sample)")
    parser.add_argument("--work", help="folder for the split, preprocess output, model and lists (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 80/20 split")
    parser.add_argument("--epochs", type=int, help="passed to `embedflow train`")
    parser.add_argument("--spec", help="passed to `embedflow preprocess` (default: the built-in movielens spec)")
    args = parser.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="bench_ranking_")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    source = args.input or _write_sample(os.path.join(work, "data"))
    for name in ("ratings.csv", "movies.csv"):
        if not os.path.exists(os.path.join(source, name)):
            sys.exit(f"error: {source} has no {name}; --input takes an ml-latest-style MovieLens folder")
    print(stats_table(folder_stats(source), names=("input", "ml-latest-small")) + "\n")

    table = pacsv.read_csv(os.path.join(source, "ratings.csv"))
    held = ref.holdout_split(table.num_rows, HELD_OUT, args.seed)
    train_dir = os.path.join(work, "train")
    os.makedirs(train_dir)
    pacsv.write_csv(table.filter(pa.array(~held)), os.path.join(train_dir, "ratings.csv"))
    shutil.copy(os.path.join(source, "movies.csv"), train_dir)
    train, test, user_ids, item_ids = _interactions(table, held)
    print(f"Split {table.num_rows:,} ratings (seed {args.seed}): {len(train.users):,} to train, "
          f"{len(test.users):,} held out; {train.n_items - 1:,} items in the train part")

    timings = {"product": _run_product(train_dir, work, args.epochs, args.spec)}
    users = ref.users_to_score(test)
    results = {}
    t = time.time()
    results["most popular"] = _score(ref.top_k_unrated(ref.popularity_scorer(train), train, users, K), users, test)
    timings["most popular"] = time.time() - t
    t = time.time()
    l2, by_l2 = ref.choose_ease_l2(train)
    weights = ref.ease_weights(ref.gram(train), l2)
    results[f"EASE (lambda={l2:g})"] = _score(ref.top_k_unrated(ref.ease_scorer(train, weights), train, users, K),
                                              users, test)
    timings[f"EASE (lambda={l2:g})"] = time.time() - t
    product_top, leaked = _product_lists(os.path.join(work, "recs"), user_ids, item_ids, train, users)
    results["product (recommend-all)"] = _score(product_top, users, test)
    timings["product (recommend-all)"] = timings.pop("product")

    print(f"\nEASE lambda by validation recall@{K}: "
          + ", ".join(f"{k:g}: {v:.4f}" for k, v in by_l2.items()))
    if leaked:
        print(f"warning: {leaked} product recommendations were items the user rated in the train part")
    print(f"\nTop-{K} on the held-out {HELD_OUT:.0%} ({len(users):,} users with a held-out rating >= "
          f"{ref.POSITIVE_RATING:g}); recall@{K}* divides hits by min({K}, relevant) instead of relevant")
    print(f"{'method':<26} {'recall@10':>9} {'NDCG@10':>8} {'recall@10*':>10} {'seconds':>8}")
    for name, m in results.items():
        print(f"{name:<26} {m['recall']:>9.4f} {m['ndcg']:>8.4f} {m['recall_capped']:>10.4f} {timings[name]:>8.0f}")
    product = results["product (recommend-all)"]
    for name in results:
        if not name.startswith("product"):
            ratio = {key: product[key] / results[name][key] for key in ("recall", "ndcg", "recall_capped")}
            print(f"{'product / ' + name.split(' (')[0]:<26} {ratio['recall']:>9.2f} {ratio['ndcg']:>8.2f} "
                  f"{ratio['recall_capped']:>10.2f}")
    _print_rmse(work, table, held, train, test)


def _write_sample(folder: str) -> str:
    from beam_jobs.sample_data import write_ratings_sample

    write_ratings_sample(folder)
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


def _run_product(train_dir: str, work: str, epochs: int | None, spec: str | None) -> float:
    """The README's three commands; returns their wall time."""
    cli = [sys.executable, "-m", "embedflow.cli"]
    steps = [
        ["preprocess", "--input", train_dir, "--output", os.path.join(work, "prep")] + (["--spec", spec] if spec else []),
        ["train", "--input", os.path.join(work, "prep"), "--job-dir", os.path.join(work, "job")]
        + (["--epochs", str(epochs)] if epochs else []),
        ["recommend-all", "--model", os.path.join(work, "job", "model"), "--output", os.path.join(work, "recs"),
         "-k", str(K)],
    ]
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


def _print_rmse(work: str, table: pa.Table, held: np.ndarray, train: ref.RatingArrays,
                test: ref.RatingArrays) -> None:
    """RMSE of the exported SavedModel's `predict` on the held-out ratings, from raw ids."""
    import tensorflow as tf

    version = sorted(glob.glob(os.path.join(work, "job", "model", "*", "saved_model.pb")))[-1]
    predict = tf.saved_model.load(os.path.dirname(version)).signatures["predict"]
    test_table = table.filter(pa.array(held))
    users = test_table.column("userId").to_numpy().astype(np.int64)
    movies = test_table.column("movieId").to_numpy().astype(np.int64)
    truth = test_table.column("rating").to_numpy().astype(np.float64)
    predicted = np.concatenate([
        predict(userId=tf.constant(users[s:s + 8192]), movieId=tf.constant(movies[s:s + 8192]))["prediction"]
        .numpy().reshape(-1) for s in range(0, len(users), 8192)])
    model = regression_metrics(truth, predicted)["rmse"]
    bias = BiasBaseline().fit(train.users, train.items, train.ratings, train.n_users, train.n_items)
    baseline = regression_metrics(test.ratings, bias.predict(test.users, test.items))["rmse"]
    print(f"\nRMSE on the held-out {len(truth):,} ratings: SavedModel `predict` {model:.4f}, bias-only baseline "
          f"fitted on the train part {baseline:.4f} (ratio {model / baseline:.3f}), global mean "
          f"{np.sqrt(np.mean((truth - train.ratings.mean()) ** 2)):.4f}")


if __name__ == "__main__":
    main()
