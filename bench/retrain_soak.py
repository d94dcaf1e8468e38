"""Soak: daily spans of a growing catalogue through `embedflow retrain`, with a poisoned day and killed cycles.

Each day adds users and movies (the same synthetic world, `RatingsSample(ratings_seed=day)`, cut to the ids
that exist by that day), one day's ratings are shuffled across rows (poisoned), and a few cycles are killed
(SIGKILL through EMBEDFLOW_FAULT_AT at a random step boundary, or at a random second). Every cycle runs as
cron would run it: `python -m embedflow.cli retrain --config …` in a fresh process; a killed cycle is
followed at once by a clean one, with no hand in between.

Printed per cycle: day, decision, the metric that decided, minutes, warm-started or not, the work folder's
size. At the end: cycles promoted / refused / recovered after a kill, whether the served recall@10 ever fell
by more than the gate's tolerance (candidate against serving on the same rows, at each promotion), and the
work folder's size (largest and last).

    python bench/retrain_soak.py --days 30 --kills 3 --poison-day 12        # the issue's soak (~1 min a day)
    python bench/retrain_soak.py --days 6 --kills 1 --poison-day 4          # a short one
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402

from embedflow.sample_tables import RatingsSample, write_ratings_sample  # noqa: E402

FAULTS = ("after_data_check", "after_preprocess", "after_train", "after_export", "after_switch", "during_prune")

CONFIG = """
input_root: spans
work_dir: work
model_dir: models
spec: movielens
keep_versions: 3
keep_runs: 3
tolerance: {tolerance}
checks:
  min_rows: 500
  max_rejected_fraction: 0.01
  max_label_mean_shift: 0.5
  label_std_ratio: [0.5, 2.0]
  max_unseen_item_share: 0.5
  min_item_label_correlation: 0.5
train: {{epochs: {epochs}, seed: 42}}
"""


def write_span(root: str, day: int, args, poisoned: bool) -> None:
    """Day `day`'s ratings of the users and movies that exist by then (both grow every day)."""
    folder = os.path.join(root, "spans", f"day-{day:03d}")
    world = RatingsSample(users=args.users + args.days * args.new_users, movies=args.movies + args.days * args.new_movies,
                          ratings=args.ratings, seed=3, ratings_seed=day)
    write_ratings_sample(folder, world)
    catalogue = pacsv.read_csv(os.path.join(folder, "movies.csv"))
    users = args.users + day * args.new_users  # user ids run 1..N; movie ids are sparse: the first M of them exist
    movies = np.sort(catalogue.column("movieId").to_numpy())[args.movies + day * args.new_movies - 1]
    ratings = pacsv.read_csv(os.path.join(folder, "ratings.csv"))
    ratings = ratings.filter(pc.and_(pc.less_equal(ratings["userId"], users), pc.less_equal(ratings["movieId"], movies)))
    if poisoned:  # every rating moved to another row: same distribution, no signal
        shuffled = ratings.column("rating").to_numpy().copy()
        np.random.default_rng(day).shuffle(shuffled)
        ratings = ratings.set_column(ratings.column_names.index("rating"), "rating", pa.array(shuffled))
    pacsv.write_csv(ratings, os.path.join(folder, "ratings.csv"), pacsv.WriteOptions(quoting_style="needed"))
    catalogue = catalogue.filter(pc.less_equal(catalogue["movieId"], movies))
    pacsv.write_csv(catalogue, os.path.join(folder, "movies.csv"), pacsv.WriteOptions(quoting_style="needed"))


def cycle(root: str, fault: str | None = None, kill_after: float | None = None) -> tuple[int, float]:
    """One `embedflow retrain` in a fresh process; returns its exit code (-9 when killed) and minutes."""
    env = dict(os.environ)
    if fault:
        env["EMBEDFLOW_FAULT_AT"] = fault
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "embedflow.cli", "retrain", "--config", "retrain.yaml"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    if proc.returncode not in (0, 3, 4, -signal.SIGKILL):
        print(err[-3000:], file=sys.stderr)
    return proc.returncode, (time.time() - started) / 60


def world_arguments(parser: argparse.ArgumentParser) -> None:
    """The growing world's options (bench/warm_start.py draws the same days)."""
    parser.add_argument("--users", type=int, default=300, help="users on day 1")
    parser.add_argument("--movies", type=int, default=150, help="movies on day 1")
    parser.add_argument("--new-users", type=int, default=10, help="users added each day")
    parser.add_argument("--new-movies", type=int, default=5, help="movies added each day")
    parser.add_argument("--ratings", type=int, default=8000, help="ratings drawn per day (before the cut to the ids "
                        "that exist that day)")


def last_record(root: str) -> dict:
    with open(os.path.join(root, "work", "history.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return lines[-1] if lines else {}


def folder_mib(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--poison-day", type=int, default=12)
    parser.add_argument("--kills", type=int, default=3, help="cycles killed at a random step")
    world_arguments(parser)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the soak folder")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    killed_days = set(rng.sample(range(2, args.days + 1), min(args.kills, max(args.days - 1, 0))))
    root = tempfile.mkdtemp(prefix="embedflow-soak-")
    with open(os.path.join(root, "retrain.yaml"), "w") as f:
        f.write(CONFIG.format(tolerance=args.tolerance, epochs=args.epochs))
    print(f"Soak in {root}: {args.days} days, poisoned day {args.poison_day}, killed on days "
          f"{sorted(killed_days) or '-'}; tolerance {args.tolerance:g}")
    print(f"{'day':>4} {'decision':<28} {'decided by':<10} {'min':>5} {'warm':>5} {'work MiB':>9}  note")
    counts = {"promoted": 0, "refused": 0, "recovered": 0, "failed": 0}
    fell, sizes = [], []
    for day in range(1, args.days + 1):
        write_span(root, day, args, poisoned=day == args.poison_day)
        if day in killed_days:
            fault = rng.choice(FAULTS + ("random second",))
            code, minutes = cycle(root, None if fault == "random second" else fault,
                                  rng.uniform(10, 50) if fault == "random second" else None)
            print(f"{day:>4} {'killed' if code == -signal.SIGKILL else f'exit {code}':<28} {'-':<10} {minutes:>5.2f} "
                  f"{'-':>5} {folder_mib(os.path.join(root, 'work')):>9.1f}  kill at {fault}")
        code, minutes = cycle(root)
        r = last_record(root)
        decision = r.get("decision", f"exit {code}")
        if day in killed_days and code in (0, 3, 4):
            counts["recovered"] += 1
        key = "promoted" if decision == "promoted" else "refused" if decision.startswith("refused") else "failed"
        counts[key] += code in (0, 3, 4) or key == "failed"
        for check in r.get("gate", []) if decision == "promoted" else []:
            if check["metric"] == "recall@10" and check["serving"]:
                change = check["candidate"] / check["serving"] - 1
                if change < -args.tolerance:
                    fell.append((day, change))
        sizes.append(folder_mib(os.path.join(root, "work")))
        warm = {True: "yes", False: "no"}.get(r.get("warm_started"), "-")
        print(f"{day:>4} {decision:<28} {r.get('decided_by', '-'):<10} {minutes:>5.2f} {warm:>5} {sizes[-1]:>9.1f}  "
              f"{(r.get('reason') or '')[:90]}", flush=True)
    poisoned = [json.loads(line) for line in open(os.path.join(root, "work", "history.jsonl"))
                if f"day-{args.poison_day:03d}" in line and '"refused' in line]
    print(f"\nCycles: {counts['promoted']} promoted, {counts['refused']} refused, {counts['recovered']} of "
          f"{len(killed_days)} killed cycles recovered by the next one, {counts['failed']} failed")
    print(f"Poisoned day {args.poison_day} refused: {'yes' if poisoned else 'no'}")
    print("Served recall@10 fell by more than the tolerance at a promotion: "
          + (", ".join(f"day {d} ({c:+.1%})" for d, c in fell) if fell else "never"))
    print(f"Work folder: largest {max(sizes):.1f} MiB, last {sizes[-1]:.1f} MiB (keep_runs 3)")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
