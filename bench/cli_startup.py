"""How long `embedflow COMMAND --help` takes, per subcommand, against importing TensorFlow alone.

Each figure is the best of `--repeat` fresh processes (the import cache warm after the first).  The
reference is what every `--help` paid before the commands' flags moved to embedflow/commands/: a Python
that imports TensorFlow.

    python bench/cli_startup.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from embedflow.cli import SUBCOMMANDS  # noqa: E402


def best_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    reference = best_seconds([sys.executable, "-c", "import features, tensorflow"], args.repeat)
    print(f"{'command':<32} {'seconds':>8} {'/ import TF':>12}")
    figures = {}
    for name in SUBCOMMANDS:
        figures[name] = best_seconds([sys.executable, "-m", "embedflow.cli", name, "--help"], args.repeat)
        print(f"embedflow {name + ' --help':<22} {figures[name]:8.2f} {figures[name] / reference:12.2f}")
    print(f"{'reference: import tensorflow':<32} {reference:8.2f} {1:12.2f}")
    print(f"slowest --help {max(figures.values()):.2f} s ({max(figures, key=figures.get)}), "
          f"median {sorted(figures.values())[len(figures) // 2]:.2f} s")


if __name__ == "__main__":
    main()
