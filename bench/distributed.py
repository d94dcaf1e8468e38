"""One process against a local cluster (TF_CONFIG) on the same preprocess output: N workers
(MultiWorkerMirroredStrategy) and, with --parameter-servers, a chief coordinating N workers and the ps tasks that
hold the embedding tables (ParameterServerStrategy).

Runs `python -m trainer.task` once alone (--distribution none), then as each
cluster on 127.0.0.1, each for the same epochs, and prints each run's
seconds per epoch and examples/s (epochs after the first, which traces the
graph) from the chief's metrics.json, and its eval metrics.  On one machine
the tasks share its cores, so expect no speed-up: this checks the cost of
the all-reduce or of the parameter servers' round trips, and that the
results agree, not scaling.

    python bench/distributed.py --input runs/prep --workers 2 --parameter-servers 2 --epochs 3
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


def run(input_dir: str, epochs: int, roles: dict[str, int], root: str, *flags: str) -> dict:
    """Train once, alone (no `roles`) or as a local cluster of `roles` (task type -> count), and return the chief's
    metrics.json.  Under a parameter server only the chief trains; its workers and ps tasks are stopped after it."""
    model_dir = os.path.join(root, "model")
    command = [sys.executable, "-m", "trainer.task", "-q", "--input", input_dir, "--job-dir", os.path.join(root, "job"),
               "--model-dir", model_dir, "--epochs", str(epochs), "--seed", "3", *flags]
    if not roles:
        trainers, servers = [subprocess.Popen([*command, "--distribution", "none"], stdout=subprocess.DEVNULL)], []
    else:
        hosts = iter(local_worker_hosts(sum(roles.values())))
        cluster = {role: [next(hosts) for _ in range(count)] for role, count in roles.items()}
        tasks = {(role, index): subprocess.Popen(command, stdout=subprocess.DEVNULL, env={**os.environ, "TF_CONFIG": (
            json.dumps({"cluster": cluster, "task": {"type": role, "index": index}}))})
            for role, count in roles.items() for index in range(count)}
        coordinated = "ps" in roles
        trainers = [p for (role, _), p in tasks.items() if role == "chief" or not coordinated]
        servers = [p for p in tasks.values() if p not in trainers]
    failed = [p.wait() for p in trainers]
    for server in servers:
        server.kill()
        server.wait()
    if any(failed):
        sys.exit(f"a training process failed ({roles or 'one process'})")
    (version,) = os.listdir(model_dir)
    with open(os.path.join(model_dir, version, "metrics.json")) as f:
        return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="a preprocess output")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--parameter-servers", type=int, default=0,
                        help="also run a chief, --workers workers and this many ps tasks (0: not)")
    parser.add_argument("--ps-shard-mb", default="0.02",
                        help="the trainer's --ps-shard-mb (default 0.02: the tests' sample's id tables are split)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (at least 2: the first is not timed)")
    args = parser.parse_args()
    runs = [("one process", {}, ()),
            (f"{args.workers} workers (MultiWorkerMirroredStrategy, 127.0.0.1)", {"worker": args.workers}, ())]
    if args.parameter_servers:
        runs.append((f"chief + {args.workers} workers + {args.parameter_servers} ps (ParameterServerStrategy, "
                     "127.0.0.1)", {"chief": 1, "worker": args.workers, "ps": args.parameter_servers},
                     ("--distribution", "parameter_server", "--ps-shard-mb", args.ps_shard_mb)))
    for how, roles, flags in runs:
        metrics = run(args.input, args.epochs, roles, tempfile.mkdtemp(prefix="bench_distributed_"), *flags)
        timed = metrics["history"]["epoch_seconds"][1:]
        seconds = sum(timed) / len(timed)
        fit_examples = metrics["train_examples"] * (1 - VALIDATION_FRACTION)  # the validation slice is not fitted
        print(f"{how}: {seconds:.2f} s/epoch, {fit_examples / seconds:,.0f} examples/s; eval rmse "
              f"{metrics['model']['rmse']:.4f}, recall@10 {metrics['ranking']['model']['recall@10']:.3f}", flush=True)


if __name__ == "__main__":
    main()
