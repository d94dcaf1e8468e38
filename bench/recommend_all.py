"""Top-10 for every user of 1,000,000 x 500,000 items: the project's scorer against plain numpy.

Builds random embeddings (dimension 26) for 1M users and 500K items, with
~20 already-rated items per user, then in the same run times top-10 for a
sample of users (a) through `beam_jobs.recommend_all.recommend_block`, the
body of the recommend-all job's DoFn, and (b) through a brute-force numpy
reference (all scores, mask rated, argpartition, sort).  Prints users/second
for both, checks they agree on the sampled users, and projects the time
for all users.  Target: all 1M users in under 10 minutes on 2 cores.

    python bench/recommend_all.py [--users 1000000] [--items 500000] [--sample 16384]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from beam_jobs.recommend_all import recommend_block  # noqa: E402
from trainer.recommend import EmbeddingIndex  # noqa: E402
from trainer.topk import DEFAULT_BLOCK, brute_force_top_k  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--dim", type=int, default=26)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--sample", type=int, default=16 * DEFAULT_BLOCK, help="users timed through the project")
    parser.add_argument("--reference-sample", type=int, default=512, help="users timed through numpy")
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
    scorer = index.scorer(args.k, popularity_weight=0.0)
    print(f"Built {args.users:,} users x {args.items:,} items, dim {args.dim}, in {time.time() - t:.1f}s")

    sample = rng.choice(args.users, args.sample, replace=False)
    recommend_block(index, scorer, sample[:DEFAULT_BLOCK])  # trace the graph once
    t = time.time()
    rows = 0
    for start in range(0, len(sample), DEFAULT_BLOCK):
        rows += recommend_block(index, scorer, sample[start:start + DEFAULT_BLOCK]).num_rows
    project_rate = len(sample) / (time.time() - t)

    ref_users = sample[:args.reference_sample]
    rated = [indices[indptr[u]:indptr[u + 1]] for u in ref_users]
    t = time.time()
    ref_idx, _ = brute_force_top_k(users[ref_users], items, item_bias, args.k, rated)
    reference_rate = len(ref_users) / (time.time() - t)
    ours, _ = scorer.top_k(users[ref_users], *index.rated_by(ref_users))
    agree = float(np.mean(ours == ref_idx))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"project (recommend_block, blocks of {DEFAULT_BLOCK}): {project_rate:,.0f} users/s "
          f"on {len(sample):,} users ({rows:,} rows)")
    print(f"numpy brute-force reference:            {reference_rate:,.0f} users/s on {len(ref_users):,} users")
    print(f"speed-up: {project_rate / reference_rate:.1f}x; top-{args.k} lists identical on "
          f"{100 * agree:.2f}% of positions")
    print(f"projected for all {args.users:,} users: project {args.users / project_rate / 60:.1f} min, "
          f"reference {args.users / reference_rate / 60:.1f} min (target: under 10 min)")
    print(f"peak RSS: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
