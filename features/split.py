"""A stable train/eval split: a seeded hash of each row's key decides its side; and each row's own key.

The decision depends only on the key's values and the seed, never on row
order or bundling, so reruns, other runners and later data agree.  The same
hash of a row's raw values is also written into each record as its row key
(stage_contracts/manifest.py ROW_KEY), by which the trainer draws its validation
slice (trainer/data.py).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_ROW_KEY_SEED = 0x0E0E  # not a split seed: the row key does not echo the train/eval decision


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a fast, well-mixed 64-bit hash of 64-bit integers."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return x ^ (x >> np.uint64(31))


def _column_hash(arr: pa.Array) -> np.ndarray:
    if pa.types.is_integer(arr.type):
        return _splitmix64(arr.fill_null(0).to_numpy().astype(np.int64).view(np.uint64))
    if pa.types.is_floating(arr.type):
        return _splitmix64(arr.fill_null(0.0).to_numpy().astype(np.float64).view(np.uint64))
    encoded = arr.dictionary_encode()  # each distinct value hashed once (a null as the text "None")
    distinct = np.array([_text_hash(v) for v in encoded.dictionary.to_pylist() + [None]], dtype=np.uint64)
    return distinct[encoded.indices.fill_null(len(encoded.dictionary)).to_numpy()]


def _text_hash(value) -> int:
    return int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=8).digest(), "little")


def row_hash(batch: pa.RecordBatch, names: tuple[str, ...], seed: int = 0) -> np.ndarray:
    """A 64-bit hash of each row's values in `names` (all data columns when empty)."""
    names = names or tuple(n for n in batch.schema.names if not n.startswith("__"))
    h = np.full(batch.num_rows, np.uint64(seed), dtype=np.uint64)
    for name in names:
        h = _splitmix64(h ^ _column_hash(batch.column(name)))
    return h


def eval_mask(batch: pa.RecordBatch, key: tuple[str, ...], seed: int, eval_fraction: float) -> np.ndarray:
    """True for rows that go to eval.  With no key, the whole row is the key."""
    unit = (row_hash(batch, key, seed) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return unit < eval_fraction


def row_keys(batch: pa.RecordBatch, names: tuple[str, ...]) -> np.ndarray:
    """Each row's key (int64): a hash of its raw values in `names`, so the same row gets the same key in every run."""
    return row_hash(batch, names, _ROW_KEY_SEED).view(np.int64)
