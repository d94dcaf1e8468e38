"""Fuzz the readers with seeded corrupt inputs for a while; print the inputs tried and every finding.

Each seed builds one corrupt MovieLens folder (tests/fuzzing.py: byte edits,
encodings, line endings, quotes, NUL, huge fields and numbers, truncation,
header changes, blank lines, binary junk) and checks the reading
properties against Python's csv module, plus one corrupt feature spec
(tests/fuzzing_specs.py), which must load or fail with a SpecError.
The test suite runs the first seeds; this runs as many as fit in the time.

    python bench/fuzz.py --minutes 10 [--start 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--start", type=int, default=100_000, help="first seed (the tests use 0 up)")
    args = parser.parse_args()

    from fuzzing import Finding, check_case, make_case
    from fuzzing_specs import check_spec_case

    deadline = time.monotonic() + args.minutes * 60
    outcomes: dict[str, int] = {}
    findings: list[str] = []
    seed = args.start
    while time.monotonic() < deadline:
        folder = tempfile.mkdtemp(prefix="fuzz_")
        try:
            outcome = check_case(make_case(seed), folder)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            check_spec_case(seed, folder)
            outcomes["spec"] = outcomes.get("spec", 0) + 1
        except Finding as e:
            findings.append(f"seed {seed}: {e}")
            print(findings[-1][:2000], flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        seed += 1
    tried = seed - args.start
    print(f"Tried {tried} input folders (seeds {args.start}..{seed - 1}) and {outcomes.get('spec', 0)} specs in "
          f"{args.minutes:g} min: {outcomes.get('ok', 0)} read, {outcomes.get('exit 2', 0)} refused with exit 2; "
          f"{len(findings)} findings.")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
