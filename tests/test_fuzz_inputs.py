"""The fuzz suite's first seeds (bench/fuzz.py runs more): corrupt inputs and specs never crash the reader.

See tests/fuzzing.py for the mutations and the properties checked against
Python's csv module, and tests/fuzzing_specs.py for the spec mutations.
"""

import pytest

from fuzzing import check_case, make_case
from fuzzing_specs import check_spec_case

INPUT_SEEDS = 120
SPEC_SEEDS = 400


@pytest.mark.parametrize("block", range(4))
def test_corrupt_inputs_are_read_with_every_record_accounted_for_or_refused_with_exit_2(tmp_path, block):
    outcomes = set()
    for seed in range(block, INPUT_SEEDS, 4):
        folder = tmp_path / str(seed)
        folder.mkdir()
        outcomes.add(check_case(make_case(seed), str(folder)))
    assert outcomes == {"ok", "exit 2"}  # the seeds reach both outcomes


def test_corrupt_specs_load_or_give_a_spec_error(tmp_path):
    for seed in range(SPEC_SEEDS):
        check_spec_case(seed, str(tmp_path))
