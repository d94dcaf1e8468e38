"""Seeded corrupt feature specs: loading one must give a spec or a SpecError (exit 2), never another exception.

Mutations work on the YAML text of the built-in specs (byte edits, invalid
UTF-8, NUL, truncation, dropped lines) and on the parsed structure (a value
swapped for one of another type: lists, mappings, numbers, null, huge or
negative numbers, odd strings), then the result is written back as YAML.
"""

from __future__ import annotations

import os
import random

import yaml

from stage_contracts.errors import UserError
from features.spec import builtin_spec_names, builtin_spec_path, load_spec

ODD_VALUES = [None, True, 0, -1, 10**30, 1e308, float("nan"), "", "x", "0", "-5", "1e999", [], {}, [1, "a"],
              {"a": 1}, [[]], "\x00", "é", "a" * 5000, "vocabulary", "z_score", "hashed_cross", "auto", "int",
              "float", "string", "two_tower", "dnn", "movieId", "userId", "rating", "|", "::"]


def make_spec(seed: int) -> bytes:
    rng = random.Random(seed)
    with open(builtin_spec_path(rng.choice(builtin_spec_names())), "rb") as f:
        text = f.read()
    for _ in range(rng.randint(1, 3)):
        how = rng.choice(["value", "value", "value", "drop_key", "bytes", "truncate", "lines"])
        if how in ("value", "drop_key"):
            try:
                tree = yaml.safe_load(text)
            except yaml.YAMLError:
                continue
            text = yaml.safe_dump(_mutate_tree(rng, tree, how), allow_unicode=True).encode()
        elif how == "bytes":
            data = bytearray(text)
            for _ in range(rng.randint(1, 6)):
                at = rng.randint(0, len(data))
                data[at:at] = rng.choice([b"\x00", b"\xff", b"\xe9", b":", b"-", b"{", b"[", b"\t", b"&a", b"*a",
                                          b"\n", b" ", b"'", b'"', b"!!python/object:os.system"])
            text = bytes(data)
        elif how == "truncate":
            text = text[:rng.randint(0, len(text))]
        else:
            lines = text.split(b"\n")
            del lines[rng.randrange(len(lines))]
            text = b"\n".join(lines)
    return text


def _mutate_tree(rng: random.Random, tree, how: str):
    """Replace (or drop) one randomly chosen node of the YAML tree."""
    paths = list(_paths(tree, ()))
    if not paths:
        return rng.choice(ODD_VALUES)
    path = rng.choice(paths)
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    if how == "drop_key" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(ODD_VALUES)
    return tree


def _paths(node, prefix):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield prefix + (key,)
        yield from _paths(child, prefix + (key,))


def check_spec_case(seed: int, folder: str) -> None:
    """Load the seed's corrupt spec; anything but a spec or a UserError is a Finding."""
    from fuzzing import Finding

    path = os.path.join(folder, f"spec-{seed}.yaml")
    with open(path, "wb") as f:
        f.write(make_spec(seed))
    try:
        load_spec(path)
    except UserError as e:
        if "\n\n" in str(e) or not str(e):
            raise Finding(f"spec seed {seed}: message is not one paragraph: {str(e)[:500]!r}") from None
    except Exception as e:  # noqa: BLE001 - any other exception is what the fuzzer looks for
        raise Finding(f"spec seed {seed}: {type(e).__name__}: {e}") from e
