"""The sizes of sample data (embedflow/sample_tables.py), checked at construction like every config's fields.

Light (standard library only): `sample-data --users 0` is refused before
numpy draws anything.  Kept apart from the writers so their module only
names these checks as its samples' `__post_init__`.
"""

from __future__ import annotations

from typing import Any

from stage_contracts.arguments import MAX_SEED, FieldChecks

MAX_ROWS = 100_000_000  # a sample is drawn in memory


def check_ratings_sample(sample: Any) -> None:
    check = FieldChecks(sample)
    check.integer("users", minimum=1, maximum=10_000_000)
    check.integer("movies", minimum=2, maximum=10_000_000)
    check.integer("groups", minimum=1, maximum=10_000)
    check.integer("ratings", minimum=sample.users, maximum=min(MAX_ROWS, sample.users * sample.movies))
    check.integer("seed", minimum=0, maximum=MAX_SEED)
    check.integer("ratings_seed", minimum=0, maximum=MAX_SEED, optional=True)
    check.real("taste", above=0, maximum=100)


def check_housing_sample(sample: Any) -> None:
    check = FieldChecks(sample)
    check.integer("rows", minimum=1, maximum=MAX_ROWS)
    if hasattr(sample, "neighbourhoods"):
        check.integer("neighbourhoods", minimum=1, maximum=10_000)
    check.integer("seed", minimum=0, maximum=MAX_SEED)
