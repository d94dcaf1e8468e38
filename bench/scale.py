"""The seed's whole scenario in one run: how long for a million users?

Generates MovieLens-layout sample ratings (default 20M ratings by 1M users
of 500K movies, long-tail popularity: embedflow/sample_tables.py), then runs
the README's commands in sequence, each as its own process exactly as a
user types it:

    embedflow preprocess --input <root>/data --output <root>/prep
    embedflow train --input <root>/prep --job-dir <root>/job --epochs 1 --batch-size 4096
    embedflow recommend-all --model <root>/job/model --output <root>/recs -k 10

and prints each stage's wall time and peak RSS (of that process and the
workers it waited for), and the total of the three.  Data generation is
timed too but is not part of the scenario (a user brings their ratings).

    python bench/scale.py                                   # 20M x 1M x 500K (about 26 minutes on 2 cores)
    python bench/scale.py --users 50000 --movies 20000 --ratings 1000000   # a quick look
    python bench/scale.py --root runs/scale --keep          # keep the outputs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.results import add_results_option, write_results  # noqa: E402
from stage_contracts.model_dir import resolve_version  # noqa: E402

TARGET_SECONDS = 12 * 60  # issue 32: the three commands in 12 minutes, peak RSS 6 GiB
TARGET_PEAK_GIB = 6.0


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    peak_gib: float


def run_stage(name: str, argv: list[str], log_dir: str) -> Stage:
    """Run `embedflow ARGV` as its own process; its wall time and peak resident memory.  Its whole output goes to
    LOG_DIR/<command>.log (kept with --keep: the train log times each step)."""
    command = [sys.executable, "-m", "embedflow.cli", *argv]
    print(f"$ embedflow {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, f"{argv[0]}.log"), "w") as f:
        f.write(output)
    if code != 0:
        sys.exit(f"error: embedflow {argv[0]} failed (exit {code}):\n{output[-3000:]}")
    last = [line for line in output.strip().splitlines() if line.strip()][-3:]
    print("\n".join("    " + line for line in last), flush=True)
    return Stage(name, seconds, usage.ru_maxrss / 2 ** 20)  # ru_maxrss is in KiB on Linux


def model_quality(model_dir: str) -> str:
    """The trained model's eval figures against its baselines, and the width of the vectors recommend-all scans."""
    version = resolve_version(model_dir)  # the version recommend-all served
    with open(os.path.join(version, "metrics.json")) as f:
        metrics = json.load(f)
    ranking, dim = metrics["ranking"], np.load(os.path.join(version, "embeddings", "users.npy"), mmap_mode="r").shape[1]
    return (f"the trained model: recall@10 {ranking['model']['recall@10']:.4f} against most popular "
            f"{ranking['popularity']['recall@10']:.4f} ({ranking['users']:,} sampled users), RMSE "
            f"{metrics['model']['rmse']:.3f} against bias-only {metrics['baseline_bias']['rmse']:.3f}; "
            f"user and item vectors of {dim} dimensions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--movies", type=int, default=500_000)
    parser.add_argument("--ratings", type=int, default=20_000_000)
    parser.add_argument("--epochs", type=int, default=1, help="passed to `embedflow train`")
    parser.add_argument("--batch-size", type=int, default=4096,
                        help="passed to `embedflow train` (the spec's 1024 suits 100K ratings; 18M examples train at 4096)")
    parser.add_argument("--root", help="working folder (default: a new temporary folder); must not exist")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    add_results_option(parser)
    args = parser.parse_args()

    root = args.root or tempfile.mkdtemp(prefix="bench_scale_")
    if args.root and os.path.exists(root):
        sys.exit(f"error: {root} exists; give a new folder (this bench never deletes what it did not create)")
    data, prep, job, recs, logs = (os.path.join(root, d) for d in ("data", "prep", "job", "recs", "logs"))
    print(f"Scenario: {args.ratings:,} ratings, {args.users:,} users, {args.movies:,} movies in {root}\n")
    try:
        generate = run_stage("sample-data (not counted)", [
            "sample-data", "--output", data, "--users", str(args.users), "--movies", str(args.movies),
            "--ratings", str(args.ratings), "--seed", "0"], logs)
        stages = [
            run_stage("preprocess", ["preprocess", "--input", data, "--output", prep], logs),
            run_stage("train", ["train", "--input", prep, "--job-dir", job, "--epochs", str(args.epochs),
                                "--batch-size", str(args.batch_size)], logs),
            run_stage("recommend-all", ["recommend-all", "--model", os.path.join(job, "model"), "--output", recs,
                                        "-k", "10"], logs),
        ]
        quality = model_quality(os.path.join(job, "model"))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    total = sum(s.seconds for s in stages)
    peak = max(s.peak_gib for s in stages)
    print(f"\n{'stage':<28}{'time':>10}{'peak RSS':>12}")
    for s in (generate, *stages):
        print(f"{s.name:<28}{s.seconds / 60:>8.1f} m{s.peak_gib:>9.2f} GiB")
    print(f"{'total (3 README commands)':<28}{total / 60:>8.1f} m{peak:>9.2f} GiB")
    print(f"targets: <= {TARGET_SECONDS / 60:.0f} m ({total / TARGET_SECONDS:.2f} of it), "
          f"peak <= {TARGET_PEAK_GIB:.0f} GiB ({peak / TARGET_PEAK_GIB:.2f} of it); "
          f"{args.users / (stages[2].seconds or 1):,.0f} users/s in recommend-all")
    print(quality)
    write_results(args.results, ("stage", "minutes", "peak RSS GiB"),
                  [[s.name, round(s.seconds / 60, 1), round(s.peak_gib, 2)] for s in (generate, *stages)]
                  + [["total (3 commands)", round(total / 60, 1), round(peak, 2)]],
                  [f"{args.ratings:,} ratings, {args.users:,} users, {args.movies:,} movies; train {args.epochs} "
                   f"epoch(s) at batch {args.batch_size}",
                   f"targets: <= {TARGET_SECONDS / 60:.0f} min, peak <= {TARGET_PEAK_GIB:.0f} GiB; "
                   f"{args.users / (stages[2].seconds or 1):,.0f} users/s in recommend-all", quality])


if __name__ == "__main__":
    main()
