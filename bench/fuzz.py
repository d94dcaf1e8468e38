"""Fuzz the readers with seeded corrupt inputs for a while; print the inputs tried and every finding.

Each seed builds one corrupt MovieLens folder (tests/fuzzing.py: byte edits,
encodings, line endings, quotes, NUL, huge fields and numbers, truncation,
header changes, blank lines, binary junk) and checks the reading
properties against Python's csv module, plus one corrupt feature spec
(tests/fuzzing_specs.py), which must load or fail with a SpecError.
The test suite runs the first seeds; this runs as many as fit in the time.

`--arguments` runs the argument properties of tests/test_arguments.py
instead, for as long: every config's fields and every command's flags given
generated values (wrong types, zero, negatives, nan, inf, huge, empty, paths
to files, folders and nothing), each of which must build or be refused with a
UserError (exit 2 and one paragraph on the command line).

    python bench/fuzz.py --minutes 10 [--start 100000]
    python bench/fuzz.py --arguments --minutes 10
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
    parser.add_argument("--arguments", action="store_true", help="fuzz configs and flags instead of input files")
    args = parser.parse_args()
    if args.arguments:
        return fuzz_arguments(args.minutes)

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


def fuzz_arguments(minutes: float) -> int:
    """The argument properties, in rounds of fresh random examples, until the time is up."""
    import logging

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_arguments import check_cli_property, check_config_property, config_factories, make_paths

    logging.disable(logging.WARNING)  # the commands' own warnings, thousands of times
    root = tempfile.mkdtemp(prefix="fuzz_arguments_")
    paths = make_paths(root)
    outcomes: dict[str, int] = {}
    findings: list[str] = []
    classes = list(config_factories(paths))
    rounds = settings(max_examples=500, deadline=None, database=None, suppress_health_check=list(HealthCheck))

    @rounds
    @given(data=st.data())
    def config_round(data):
        cls = data.draw(st.sampled_from(classes), label="config")
        outcome = f"{cls.__name__} {check_config_property(paths, cls, data)}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    @rounds
    @given(data=st.data())
    def cli_round(data):
        outcome = f"command line {check_cli_property(paths, data)}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    deadline = time.monotonic() + minutes * 60
    try:
        while time.monotonic() < deadline:
            for one_round in (config_round, cli_round):
                try:
                    one_round()
                except Exception as e:  # hypothesis re-raises the shrunk failing example
                    findings.append(f"{one_round.__name__}: {type(e).__name__}: {e}")
                    print(findings[-1][:2000], flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    total = sum(outcomes.values())
    print(f"Tried {total:,} argument cases in {minutes:g} min ({', '.join(f'{k}: {v:,}' for k, v in sorted(outcomes.items()))}); "
          f"{len(findings)} findings.")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
