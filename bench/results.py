"""A benchmark's printed figures as one JSON file, which the docs render as a table (docs/generate.py).

The docs quote benchmarks only through these files (bench/results/NAME.json), so a figure on a page is
the one a command printed, with that command and its date beside it, never a number typed twice.  A file
is a table: `columns`, `rows` (one list per row, in the columns' order), `notes` (lines printed under it)
and `source` (the command, the date, and whether the file was written by that run or transcribed from
an earlier README that quoted the run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
from typing import Any, Sequence


def add_results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", metavar="PATH",
                        help="also write the printed figures as JSON to PATH (bench/results/*.json feed the docs)")


def write_results(path: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                  notes: Sequence[str] = ()) -> None:
    """Write the table to `path` (nothing when None), sourced to this very command and today."""
    if path is None:
        return
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"every row needs {len(columns)} values ({', '.join(columns)})")
    data = {
        "source": {"command": command_line(sys.argv), "date": datetime.date.today().isoformat(),
                   "how": "written by this run",
                   "machine": f"{os.cpu_count()} CPUs, {platform.machine()}"},
        "columns": list(columns),
        "rows": [list(row) for row in rows],
        "notes": list(notes),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_json(data))
    print(f"figures written to {path}")


def to_json(data: dict) -> str:
    """Indented JSON with each row on one line, so a results file reads (and diffs) as its table."""
    rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in data["rows"])
    rest = json.dumps({k: v for k, v in data.items() if k != "rows"}, indent=1, ensure_ascii=False)
    return rest[:-2] + ',\n "rows": [\n' + rows + "\n ]\n}\n"


def command_line(argv: Sequence[str]) -> str:
    """The command as typed, less its --results option (where the figures went is not how they were made)."""
    args, skip = [], False
    for arg in argv[1:]:
        if skip or arg.startswith("--results="):
            skip = False
            continue
        if arg == "--results":
            skip = True
            continue
        args.append(arg)
    return " ".join(shlex.quote(a) for a in ["python", os.path.relpath(argv[0])] + args)
