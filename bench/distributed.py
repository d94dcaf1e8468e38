"""One process against N local worker processes (TF_CONFIG, MultiWorkerMirroredStrategy) on the same preprocess output.

Runs `python -m trainer.task` once alone (--distribution none), then as N
workers on 127.0.0.1, each for the same epochs, and prints each run's
seconds per epoch and examples/s (epochs after the first, which traces the
graph) from the chief's metrics.json, and its eval metrics.  On one machine
the workers share its cores, so expect no speed-up: this checks the cost of
the all-reduce and that the results agree, not scaling.

    python bench/distributed.py --input runs/prep --workers 2 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer.data import VALIDATION_FRACTION  # noqa: E402
from trainer.distribution import local_worker_hosts  # noqa: E402


def run(input_dir: str, epochs: int, workers: int, root: str) -> dict:
    """Train once (workers=1: one process) and return the chief's metrics.json."""
    model_dir = os.path.join(root, "model")
    command = [sys.executable, "-m", "trainer.task", "-q", "--input", input_dir, "--job-dir", os.path.join(root, "job"),
               "--model-dir", model_dir, "--epochs", str(epochs), "--seed", "3"]
    if workers == 1:
        processes = [subprocess.Popen([*command, "--distribution", "none"], stdout=subprocess.DEVNULL)]
    else:
        hosts = local_worker_hosts(workers)
        processes = [subprocess.Popen(command, env={**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})}, stdout=subprocess.DEVNULL)
            for i in range(workers)]
    if any(p.wait() for p in processes):
        sys.exit(f"a training process failed ({workers} worker(s))")
    (version,) = os.listdir(model_dir)
    with open(os.path.join(model_dir, version, "metrics.json")) as f:
        return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="a preprocess output")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (at least 2: the first is not timed)")
    args = parser.parse_args()
    for workers in (1, args.workers):
        metrics = run(args.input, args.epochs, workers, tempfile.mkdtemp(prefix="bench_distributed_"))
        timed = metrics["history"]["epoch_seconds"][1:]
        seconds = sum(timed) / len(timed)
        fit_examples = metrics["train_examples"] * (1 - VALIDATION_FRACTION)  # the validation slice is not fitted
        how = "one process" if workers == 1 else f"{workers} workers (MultiWorkerMirroredStrategy, 127.0.0.1)"
        print(f"{how}: {seconds:.2f} s/epoch, {fit_examples / seconds:,.0f} examples/s; eval rmse "
              f"{metrics['model']['rmse']:.4f}, recall@10 {metrics['ranking']['model']['recall@10']:.3f}", flush=True)


if __name__ == "__main__":
    main()
