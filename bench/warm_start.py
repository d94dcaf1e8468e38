"""What warm start buys a retraining cycle: epochs and minutes to the gate's quality, warm against from scratch.

The soak's growing world (bench/retrain_soak.py: new users and movies every
day) is drawn for `--days` days.  A model is trained from scratch on the
ratings up to the day before the last (the serving model); then the ratings
up to the last day, which bring new users and movies and so new
vocabularies, are trained twice with the same seed and settings: from
scratch, and warm-started from the serving model (rows carried over by
token, trainer/warm_start.py), as `embedflow retrain` does.  Early stopping
is off (patience = epochs, set in the bench's own preprocess outputs) so both
curves run their whole length.

"The gate's quality" is the from-scratch run's best validation recall@10
less `--tolerance` (relative), the change a gate with that tolerance
accepts; the bench prints, for both runs, the first epoch at or above it,
the seconds spent up to that epoch, and each run's best.  Validation slice
only: both runs cut the same slice (same seed), and nothing here reads the
eval split.

    python bench/warm_start.py [--days 10] [--epochs 12] [--tolerance 0.02]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402

from bench.retrain_soak import world_arguments, write_span  # noqa: E402

METRIC = "val_recall_at_10"


def ratings_through(root: str, last_day: int, folder: str) -> str:
    """One MovieLens folder with every span's ratings up to `last_day` and that day's catalogue.

    A user rates a movie again on a later day (each day is drawn from the
    same world), so only each pair's latest rating is kept, as the spec's
    `deduplicate` would keep it (preprocess would count the others as rejected rows).
    """
    os.makedirs(folder, exist_ok=True)
    spans = [os.path.join(root, "spans", f"day-{day:03d}") for day in range(1, last_day + 1)]
    ratings = pa.concat_tables([pacsv.read_csv(os.path.join(span, "ratings.csv")) for span in spans])
    pairs = ratings["userId"].to_numpy().astype(np.int64) << 32 | ratings["movieId"].to_numpy().astype(np.int64)
    _, last_from_end = np.unique(pairs[::-1], return_index=True)
    ratings = ratings.take(np.sort(len(pairs) - 1 - last_from_end))
    pacsv.write_csv(ratings, os.path.join(folder, "ratings.csv"), pacsv.WriteOptions(quoting_style="needed"))
    shutil.copy(os.path.join(spans[-1], "movies.csv"), folder)
    return folder


def preprocess(data: str, output: str, patience: int) -> str:
    """`embedflow preprocess` of the movielens spec, with early stopping's patience set in the output's manifest."""
    subprocess.run([sys.executable, "-m", "embedflow.cli", "-q", "preprocess", "--input", data, "--output", output],
                   check=True)
    path = os.path.join(output, "manifest.json")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["spec"]["model"]["early_stopping_patience"] = patience
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    return output


def train(prep: str, job_dir: str, epochs: int, warm_from: str | None = None) -> tuple[str, dict]:
    """A training run in a fresh process (warm-started when `warm_from` names a version); its folder and metrics."""
    code = ("import sys, json; from trainer.config import TrainConfig; from trainer.task import train; "
            "r = train(TrainConfig(input=sys.argv[1], job_dir=sys.argv[2], epochs=int(sys.argv[3]), "
            "warm_start_from=sys.argv[4] or None)); print(r.version_dir)")
    done = subprocess.run([sys.executable, "-c", code, prep, job_dir, str(epochs), warm_from or ""], check=True,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    version = done.stdout.strip().splitlines()[-1]
    with open(os.path.join(version, "metrics.json"), encoding="utf-8") as f:
        return version, json.load(f)


def to_quality(metrics: dict, target: float) -> tuple[int | None, float | None]:
    """The first epoch (1-based) whose validation recall@10 reaches `target`, and the seconds trained until then."""
    for epoch, value in enumerate(metrics["history"][METRIC], start=1):
        if value >= target:
            return epoch, sum(metrics["history"]["epoch_seconds"][:epoch])
    return None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10, help="days of the growing world; the last one is retrained")
    world_arguments(parser)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--tolerance", type=float, default=0.02, help="relative recall@10 change the gate accepts")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="embedflow-warm-")
    for day in range(1, args.days + 1):
        write_span(root, day, args, poisoned=False)
    before = preprocess(ratings_through(root, args.days - 1, os.path.join(root, "before")), os.path.join(root, "prep0"),
                        args.epochs)
    after = preprocess(ratings_through(root, args.days, os.path.join(root, "after")), os.path.join(root, "prep1"),
                       args.epochs)
    serving, _ = train(before, os.path.join(root, "job0"), args.epochs)
    _, scratch = train(after, os.path.join(root, "scratch"), args.epochs)
    _, warm = train(after, os.path.join(root, "warm"), args.epochs, warm_from=serving)
    carried = warm["warm_start"]
    target = max(scratch["history"][METRIC]) * (1 - args.tolerance)
    print(f"Day {args.days} after day {args.days - 1}: {carried['rows_carried']:,} id-table rows carried over by token, "
          f"{carried['rows_new']:,} new; {scratch['train_examples']:,} training examples")
    print(f"Gate's quality: validation recall@10 >= {target:.4f} (the from-scratch best less {args.tolerance:.0%})")
    print(f"{'run':<14} {'epochs to it':>12} {'seconds to it':>13} {'best recall@10':>15} {'at epoch':>9}")
    for name, metrics in (("from scratch", scratch), ("warm start", warm)):
        epoch, seconds = to_quality(metrics, target)
        curve = metrics["history"][METRIC]
        best = max(curve)
        print(f"{name:<14} {epoch or '-':>12} {f'{seconds:.1f}' if seconds else '-':>13} {best:>15.4f} "
              f"{curve.index(best) + 1:>9}")
    for name, metrics in (("from scratch", scratch), ("warm start", warm)):
        print(f"{name} recall@10 by epoch: " + " ".join(f"{v:.3f}" for v in metrics["history"][METRIC]))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
