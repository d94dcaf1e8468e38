"""Preprocess throughput: the project's job against TFT's guide-style reference, in one run.

Generates N ratings (default 1,000,000 over 50,000 users and 20,000 movies,
seeded), then times (a) `beam_jobs.preprocess.run` reading ratings.csv and
(b) the reference pipeline of bench/reference_tft.py reading the same rows
(pre-split into train.csv / eval.csv by the same stable hash), both
computing the bench spec's vocabularies, quantile buckets and hashed cross.
Each pipeline runs in a child process so its peak RSS is its own.  Prints
rows/s for both, their ratio and peak RSS; with `--repeat N` each pipeline
runs N times, alternating, and the fastest run of each counts (this machine
is shared and its timings wander by +-20%).

    python bench/preprocess.py [--ratings N --users U --movies M] [--repeat 3] [--direct-num-workers 2]
    python bench/preprocess.py --scale      # 20M ratings, 1M users, 500K movies; project only
    python bench/preprocess.py --statistics-cost --repeat 3   # project with and without --statistics
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

BENCH_SPEC = """
name: ratings-bench
source: {format: csv}
columns:
  userId: {type: int}
  movieId: {type: int}
  rating: {type: float, min: 0.5, max: 5.0}
  timestamp: {type: int}
features:
  - {name: user_id, source: userId, transform: vocabulary}
  - {name: movie_id, source: movieId, transform: vocabulary}
  - {name: time_bucket, source: timestamp, transform: quantile_bucketize, num_buckets: 10}
  - {name: time_z, source: timestamp, transform: z_score}
  - {name: user_x_time, transform: hashed_cross, cross: [user_id, time_bucket], hash_buckets: 100000}
label: {column: rating}
split: {eval_fraction: 0.1, key: [userId, movieId], seed: 42}
"""
COLUMNS = ["userId", "movieId", "rating", "timestamp"]
NO_STATISTICS = "project-no-statistics"


def write_bench_inputs(root: str, ratings: int, users: int, movies: int, seed: int = 1,
                       with_reference_split: bool = True) -> tuple[str, int]:
    """ratings.csv (+ train.csv/eval.csv split as the project splits) and the spec; returns (spec path, rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from beam_jobs.sample_data import RatingsSample, write_ratings_sample
    from beam_jobs.split import eval_mask

    data = os.path.join(root, "data")
    write_ratings_sample(data, RatingsSample(users=users, movies=movies, ratings=ratings, groups=20, seed=seed))
    spec_path = os.path.join(root, "bench_spec.yaml")
    with open(spec_path, "w") as f:
        f.write(BENCH_SPEC)
    if with_reference_split:
        table = pacsv.read_csv(os.path.join(data, "ratings.csv"),
                               convert_options=pacsv.ConvertOptions(column_types={"rating": pa.float64()}))
        mask = eval_mask(table.combine_chunks().to_batches()[0], ("userId", "movieId"), 42, 0.1)
        for name, rows in (("train", ~mask), ("eval", mask)):
            pacsv.write_csv(table.filter(pa.array(rows)), os.path.join(root, f"{name}.csv"),
                            pacsv.WriteOptions(quoting_style="needed"))
    return spec_path, ratings


def child(kind: str, root: str, beam_args: list[str]) -> None:
    """Run one pipeline and print its timing as JSON (in a child process)."""
    from features.spec import load_spec

    spec = load_spec(os.path.join(root, "bench_spec.yaml"))
    started = time.time()
    if kind.startswith("project"):
        from beam_jobs import preprocess

        preprocess.run(spec, os.path.join(root, "data", "ratings.csv"), os.path.join(root, "out_project"),
                       beam_args, overwrite=True, statistics=kind != NO_STATISTICS)
    else:
        from reference_tft import run_reference

        run_reference(spec, os.path.join(root, "train.csv"), os.path.join(root, "eval.csv"), COLUMNS,
                      os.path.join(root, "out_reference"))
    seconds = time.time() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def timed(kind: str, root: str, beam_args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--root", root, *beam_args],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--movies", type=int, default=20_000)
    parser.add_argument("--scale", action="store_true", help="20M ratings, 1M users, 500K movies; no reference")
    parser.add_argument("--direct-num-workers", type=int, default=0,
                        help="run the project on DirectRunner multi_processing with this many workers")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each pipeline this many times, alternating, and report the fastest of each")
    parser.add_argument("--statistics-cost", action="store_true",
                        help="time the project with and without its TFDV-format statistics (no reference)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args, beam_args = parser.parse_known_args()
    if args.child:
        child(args.child, args.root, beam_args)
        return
    if args.scale:
        args.ratings, args.users, args.movies = 20_000_000, 1_000_000, 500_000
    if args.direct_num_workers:
        beam_args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.direct_num_workers}"]
    kinds = ["project"] if args.scale else ["project", "reference"]
    if args.statistics_cost:
        kinds = ["project", NO_STATISTICS]
    root = tempfile.mkdtemp(prefix="bench_preprocess_")
    t = time.time()
    _, rows = write_bench_inputs(root, args.ratings, args.users, args.movies, with_reference_split="reference" in kinds)
    print(f"Generated {rows:,} ratings ({args.users:,} users, {args.movies:,} movies) in {time.time() - t:.0f}s "
          f"under {root}")
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for _ in range(args.repeat):  # alternate, so drifting load on a shared machine hits both alike
        for kind in kinds:
            runs[kind].append(timed(kind, root, beam_args if kind.startswith("project") else []))
    best = {kind: min(results, key=lambda r: r["seconds"]) for kind, results in runs.items()}
    for kind in kinds:
        all_seconds = ", ".join(f"{r['seconds']:.1f}" for r in runs[kind])
        print(f"{kind:<10}: {rows / best[kind]['seconds']:>10,.0f} rows/s  ({best[kind]['seconds']:.1f}s best of "
              f"[{all_seconds}], peak RSS {best[kind]['peak_rss_mib']:,.0f} MiB)"
              f"{' ' + ' '.join(beam_args) if kind.startswith('project') and beam_args else ''}")
    if args.statistics_cost:
        cost = best["project"]["seconds"] / best[NO_STATISTICS]["seconds"] - 1
        print(f"statistics: {cost:+.1%} time ({best['project']['seconds'] - best[NO_STATISTICS]['seconds']:+.1f}s)")
    elif not args.scale:
        print(f"ratio     : {best['reference']['seconds'] / best['project']['seconds']:.1f}x")


if __name__ == "__main__":
    main()
