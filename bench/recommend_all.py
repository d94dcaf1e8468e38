"""Top-10 for every user of 1,000,000 x 500,000 items: the project's scorer against FAISS and plain numpy.

Builds random embeddings (dimension 26) for 1M users and 500K items, with
~20 already-rated items per user and an item bias, then in the same run,
block by block (1,024 users) and alternating so both see the same machine:

(a) the project's scorer, `TopKScorer.top_k` (exact; bias; rated items
    excluded), the core of `beam_jobs.recommend_all.recommend_block`;
(b) FAISS's exact `IndexFlatIP` on the same vectors augmented so that it
    scores the same thing (user [u, 1] . item [v, bias]).  FAISS cannot
    exclude rated items, so it is asked for k + the most rated items of any
    user in the block, and the rated ones are dropped afterwards (that
    filter is not timed).  FAISS runs with its OpenMP threads (2) and with
    1 thread; the faster is the reference, so a loaded machine, where
    OpenMP's spinning threads suffer most, does not flatter the project.

It also times the whole `recommend_block` (scores, predicted ratings, Arrow
rows) and a numpy brute-force reference on a few users, checks that the
top-10 sets agree, and prints users/s (and users per CPU-second, steadier
on a shared machine), GFLOP/s (2 x (dim + 1) x items per
user), the ratio to FAISS, the projection for all users, and peak RSS.
Targets: >= 1.0x FAISS; all 1M users in <= 5 minutes on 2 cores.

    python bench/recommend_all.py [--users 1000000] [--items 500000] [--sample 16384]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from beam_jobs.recommend_all import recommend_block  # noqa: E402
from trainer.ranking_score import RankingWeights  # noqa: E402
from trainer.recommend import EmbeddingIndex  # noqa: E402
from trainer.topk import DEFAULT_BLOCK, brute_force_top_k  # noqa: E402


def faiss_top_k(index: faiss.IndexFlatIP, users: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's top k + max rated, timed (wall, CPU); then rated items dropped (untimed) to leave each user's top k."""
    counts = np.diff(indptr)
    augmented = np.hstack([users, np.ones((len(users), 1), np.float32)])
    t, cpu = time.perf_counter(), time.process_time()
    _, found = index.search(augmented, k + int(counts.max(initial=0)))
    seconds = np.array([time.perf_counter() - t, time.process_time() - cpu])
    top = np.empty((len(users), k), np.int64)
    for row, ids in enumerate(found):
        rated = indices[indptr[row]:indptr[row + 1]]
        top[row] = ids[~np.isin(ids, rated)][:k]
    return top, seconds


def same_sets(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.all(np.sort(a, axis=1) == np.sort(b, axis=1), axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--dim", type=int, default=26)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--sample", type=int, default=16 * DEFAULT_BLOCK, help="users timed through scorer and FAISS")
    parser.add_argument("--reference-sample", type=int, default=256, help="users timed through numpy")
    parser.add_argument("--rated", type=int, default=20, help="already-rated items per user")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    t = time.time()
    users = rng.normal(0, 0.3, (args.users, args.dim)).astype(np.float32)
    items = rng.normal(0, 0.3, (args.items, args.dim)).astype(np.float32)
    item_bias = rng.normal(0, 0.2, args.items).astype(np.float32)
    indptr = np.arange(args.users + 1, dtype=np.int64) * args.rated
    indices = rng.integers(0, args.items, args.users * args.rated).astype(np.int32)
    index = EmbeddingIndex.from_arrays(items, users, indptr, indices, item_bias=item_bias)
    scorer = index.scorer(args.k, RankingWeights())
    flat = faiss.IndexFlatIP(args.dim + 1)
    flat.add(np.hstack([items, item_bias[:, None]]))
    print(f"Built {args.users:,} users x {args.items:,} items, dim {args.dim}, in {time.time() - t:.1f}s")

    sample = rng.choice(args.users, args.sample, replace=False)
    blocks = [sample[start:start + DEFAULT_BLOCK] for start in range(0, len(sample), DEFAULT_BLOCK)]
    t = time.time()
    scorer.top_k(users[blocks[0]], *index.rated_by(blocks[0]))  # trace the graph once
    print(f"Scorer ready (probe chosen, graph traced) in {time.time() - t:.1f}s")
    threads = faiss.omp_get_max_threads()
    seconds = {name: np.zeros(2) for name in ("project", f"faiss {threads} threads", "faiss 1 thread")}
    ours, theirs = [], []
    for block in blocks:
        rated = index.rated_by(block)
        t, cpu = time.perf_counter(), time.process_time()
        ours.append(scorer.top_k(users[block], *rated)[0])
        seconds["project"] += [time.perf_counter() - t, time.process_time() - cpu]
        for name, n_threads in ((f"faiss {threads} threads", threads), ("faiss 1 thread", 1)):
            faiss.omp_set_num_threads(n_threads)
            top, spent = faiss_top_k(flat, users[block], *rated, args.k)
            seconds[name] += spent
        theirs.append(top)
    faiss.omp_set_num_threads(threads)
    rate = {name: len(sample) / s[0] for name, s in seconds.items()}
    per_cpu = {name: len(sample) / s[1] for name, s in seconds.items()}
    faiss_name = max((name for name in rate if name.startswith("faiss")), key=rate.get)

    t = time.time()
    rows = sum(recommend_block(index, scorer, block, RankingWeights()).num_rows for block in blocks[:4])
    job_users = sum(len(block) for block in blocks[:4])
    job_rate = job_users / (time.time() - t)

    ref_users = sample[:args.reference_sample]
    t = time.time()
    ref_idx, _ = brute_force_top_k(users[ref_users], items, item_bias, args.k,
                                   [indices[indptr[u]:indptr[u + 1]] for u in ref_users])
    reference_rate = len(ref_users) / (time.time() - t)
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    n_ref = len(ref_users)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flop = 2 * (args.dim + 1) * args.items
    for name, r in rate.items():
        print(f"{name + ':':<20} {r:>7,.0f} users/s, {r * flop / 1e9:5.1f} GFLOP/s, all {args.users:,} users in "
              f"{args.users / r / 60:.1f} min; {per_cpu[name]:,.0f} users per CPU-second")
    print(f"project / FAISS ({faiss_name}, the faster): {rate['project'] / rate[faiss_name]:.2f}x "
          f"(per CPU-second: {per_cpu['project'] / per_cpu[faiss_name]:.2f}x)")
    print(f"recommend_block (scores + Arrow rows): {job_rate:,.0f} users/s on {job_users:,} users ({rows:,} rows)")
    print(f"numpy brute force: {reference_rate:,.0f} users/s on {n_ref:,} users")
    print(f"identical top-{args.k} sets: project vs FAISS {100 * same_sets(ours, theirs):.2f}% of "
          f"{len(ours):,} users; project vs numpy {100 * same_sets(ours[:n_ref], ref_idx):.2f}% and same order "
          f"{100 * np.mean(np.all(ours[:n_ref] == ref_idx, axis=1)):.2f}% of {n_ref:,}")
    print(f"projected for all {args.users:,} users: project {args.users / rate['project'] / 60:.1f} min "
          f"(target: <= 5 min), FAISS {args.users / rate[faiss_name] / 60:.1f} min")
    print(f"peak RSS: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
