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

`--wide N` measures what a spec's width costs instead: a generated table
with N mixed features (bench/wide_table.py: vocabularies, z-scores, two
quantile buckets, a cross) preprocessed at 2,000 rows and at `--rows`
(default 1M), the narrow MovieLens spec on 2,000 sample ratings, the
TFT-guide reference on the wide spec at `--rows`, and the size of the
Dataflow job graph of each spec from an offline `--dry_run`, with the
ratios the targets are stated in.

    python bench/preprocess.py [--ratings N --users U --movies M] [--repeat 3] [--direct-num-workers 2]
    python bench/preprocess.py --scale      # 20M ratings, 1M users, 500K movies; project only
    python bench/preprocess.py --wide 100 [--rows 1000000]
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

from bench.results import add_results_option, write_results  # noqa: E402

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


SMALL_ROWS = 2_000
DATAFLOW_DRY_RUN = ["--runner=DataflowRunner", "--project=bench-project", "--region=europe-west1",
                    "--temp_location=gs://bench-bucket/tmp", "--dry_run=True", "--no_auth"]


def write_bench_inputs(root: str, ratings: int, users: int, movies: int, seed: int = 1,
                       with_reference_split: bool = True) -> tuple[str, int]:
    """ratings.csv (+ train.csv/eval.csv split as the project splits) and the spec; returns (spec path, rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from embedflow.sample_tables import RatingsSample, write_ratings_sample
    from features.split import eval_mask

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
    _describe_inputs(root, spec_path, os.path.join(data, "ratings.csv"), COLUMNS)
    return spec_path, ratings


def _describe_inputs(root: str, spec: str, table: str, columns: list[str]) -> None:
    """bench.json: what a child process runs on (spec, input, reference split and its column names)."""
    with open(os.path.join(root, "bench.json"), "w") as f:
        json.dump({"spec": spec, "input": table, "columns": columns}, f)


def write_wide_bench_inputs(root: str, features: int, rows: int, with_reference_split: bool) -> None:
    from wide_table import write_wide_inputs

    spec, table, columns = write_wide_inputs(root, features, rows, with_reference_split=with_reference_split)
    _describe_inputs(root, spec, table, columns)


def write_narrow_inputs(root: str, ratings: int) -> None:
    """MovieLens-layout sample ratings (ratings.csv + movies.csv) under the built-in movielens spec."""
    from embedflow.sample_tables import RatingsSample, write_ratings_sample
    from features.spec import load_spec

    data = os.path.join(root, "data")
    write_ratings_sample(data, RatingsSample(users=max(20, ratings // 40), movies=max(50, ratings // 8),
                                             ratings=ratings, seed=3))
    _describe_inputs(root, load_spec("movielens").path, data, [])


def child(kind: str, root: str, beam_args: list[str]) -> None:
    """Run one pipeline (or build its Dataflow job: `steps`) and print its figures as JSON (in a child process)."""
    from features.spec import load_spec

    with open(os.path.join(root, "bench.json")) as f:
        inputs = json.load(f)
    spec = load_spec(inputs["spec"])
    started, cpu_started = time.time(), _cpu_seconds()
    figures = {}
    if kind.startswith("project") or kind == "steps":
        from beam_jobs import preprocess
        from beam_jobs.config import PreprocessConfig

        result = preprocess.run(PreprocessConfig(
            output=os.path.join(root, f"out_{kind}"), input=inputs["input"], spec=spec,
            beam_args=tuple(beam_args + (DATAFLOW_DRY_RUN if kind == "steps" else [])), overwrite=True,
            statistics=kind != NO_STATISTICS))
        if kind == "steps":
            figures = dataflow_graph_size(result["job"])
    else:
        from reference_tft import run_reference

        run_reference(spec, os.path.join(root, "train.csv"), os.path.join(root, "eval.csv"), inputs["columns"],
                      os.path.join(root, "out_reference"))
    seconds = time.time() - started
    print(json.dumps({"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu_started,
                      "peak_rss_mib": peak_rss_mib(), **figures}))


def peak_rss_mib() -> float:
    """This process's peak resident memory: Linux's VmHWM, which starts afresh when the process execs.

    `ru_maxrss` keeps the high-water mark of the memory the process had
    before its exec, i.e. the parent's at the fork: a child started after
    the 1M-row wide table was generated reported that table too (the narrow
    spec's run read 1.9 GiB instead of 0.9).
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process, all threads: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def dataflow_graph_size(job) -> dict:
    """Steps of a Dataflow job built offline: its primitive transforms (what Dataflow runs), all, and bytes."""
    transforms = job.proto_pipeline.components.transforms.values()
    return {"steps": sum(1 for t in transforms if not t.subtransforms), "transforms": len(transforms),
            "graph_bytes": job.proto_pipeline.ByteSize()}


def timed(kind: str, root: str, beam_args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--root", root, *beam_args],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def wide_main(features: int, rows: int, repeat: int, beam_args: list[str]) -> None:
    """The width benchmark: wide spec at 2K and `rows` rows, narrow spec at 2K, reference, Dataflow graph sizes."""
    base = tempfile.mkdtemp(prefix="bench_wide_")
    roots = {name: os.path.join(base, name) for name in ("wide_small", "wide_large", "narrow")}
    t = time.time()
    write_wide_bench_inputs(roots["wide_small"], features, SMALL_ROWS, with_reference_split=False)
    write_wide_bench_inputs(roots["wide_large"], features, rows, with_reference_split=True)
    write_narrow_inputs(roots["narrow"], SMALL_ROWS)
    print(f"Generated a {features}-feature table at {SMALL_ROWS:,} and {rows:,} rows and {SMALL_ROWS:,} MovieLens "
          f"sample ratings in {time.time() - t:.0f}s under {base}")
    runs = {("narrow", "project"): [], ("wide_small", "project"): [], ("wide_large", "project"): [],
            ("wide_large", "reference"): []}
    for _ in range(repeat):
        for root, kind in runs:
            runs[root, kind].append(timed(kind, roots[root], beam_args if kind == "project" else []))
    best = {key: min(results, key=lambda r: r["seconds"]) for key, results in runs.items()}
    steps = {name: timed("steps", roots[name], []) for name in ("narrow", "wide_small")}

    def line(label: str, key: tuple[str, str]) -> str:
        seconds = ", ".join(f"{r['seconds']:.1f}" for r in runs[key])
        return (f"{label:<44}: {best[key]['seconds']:7.1f} s  (best of [{seconds}]; "
                f"{best[key]['cpu_seconds']:.1f} CPU-s, peak RSS {best[key]['peak_rss_mib']:,.0f} MiB)")

    print(line(f"narrow movielens spec, {SMALL_ROWS:,} ratings", ("narrow", "project")))
    print(line(f"wide spec ({features} features), {SMALL_ROWS:,} rows", ("wide_small", "project")))
    print(line(f"wide spec ({features} features), {rows:,} rows", ("wide_large", "project")))
    print(line(f"TFT-guide reference, wide spec, {rows:,} rows", ("wide_large", "reference")))
    for name, label in (("narrow", "narrow movielens spec"), ("wide_small", f"wide spec ({features} features)")):
        print(f"{'Dataflow job, ' + label:<44}: {steps[name]['steps']:7,} steps ({steps[name]['transforms']:,} "
              f"transforms with composites, {steps[name]['graph_bytes'] / 1e6:.2f} MB)")
    def ratio(numerator: tuple[str, str], denominator: tuple[str, str]) -> str:
        return (f"{best[numerator]['seconds'] / best[denominator]['seconds']:5.2f}x wall, "
                f"{best[numerator]['cpu_seconds'] / best[denominator]['cpu_seconds']:5.2f}x CPU")

    print(f"wide / narrow time at {SMALL_ROWS:,} rows           : "
          f"{ratio(('wide_small', 'project'), ('narrow', 'project'))}  (target <= 2x)")
    print(f"reference / product at {rows:,} rows       : "
          f"{ratio(('wide_large', 'reference'), ('wide_large', 'project'))}  (target >= 5x at 1,000,000 rows)")
    print(f"wide / narrow Dataflow steps                : "
          f"{steps['wide_small']['steps'] / steps['narrow']['steps']:5.2f}x  (target <= 2x)")


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
    parser.add_argument("--wide", type=int, nargs="?", const=100, metavar="N",
                        help="width benchmark on a generated table with N mixed features (default 100)")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of the wide table's large run and of the reference's (with --wide)")
    parser.add_argument("--statistics-cost", action="store_true",
                        help="time the project with and without its TFDV-format statistics (no reference)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    add_results_option(parser)
    args, beam_args = parser.parse_known_args()
    if args.child:
        child(args.child, args.root, beam_args)
        return
    if args.wide:
        wide_main(args.wide, args.rows, args.repeat, beam_args)
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
    notes = [f"{rows:,} ratings ({args.users:,} users, {args.movies:,} movies), best of {args.repeat} alternating "
             f"run(s) each, TensorFlow's import included"]
    if args.statistics_cost:
        cost = best["project"]["seconds"] / best[NO_STATISTICS]["seconds"] - 1
        print(f"statistics: {cost:+.1%} time ({best['project']['seconds'] - best[NO_STATISTICS]['seconds']:+.1f}s)")
        notes.append(f"statistics: {cost:+.1%} time")
    elif not args.scale:
        print(f"ratio     : {best['reference']['seconds'] / best['project']['seconds']:.1f}x")
        notes.append(f"project / TFT-guide reference: {best['reference']['seconds'] / best['project']['seconds']:.1f}x")
    write_results(args.results, ("pipeline", "rows/s", "seconds (best)", "seconds (every run)", "peak RSS MiB"),
                  [[kind, round(rows / best[kind]["seconds"]), round(best[kind]["seconds"], 1),
                    ", ".join(f"{r['seconds']:.1f}" for r in runs[kind]), round(best[kind]["peak_rss_mib"])]
                   for kind in kinds], notes)


if __name__ == "__main__":
    main()
