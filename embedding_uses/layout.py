"""The `embeddings/` folder of a model version: what the trainer writes there and how the uses read it back.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import tensorflow as tf

EMBEDDINGS_DIR = "embeddings"
PARQUET_DIR = "parquet"
RATING_ITEMS_FILE = "rating_items.npy"  # the rating head's item vectors (items.npy holds the retrieval head's)
_ARROW_ID_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}


def arrow_id_type(column_type: str) -> pa.DataType:
    return _ARROW_ID_TYPES[column_type]


def typed_ids(ids: list[str], column_type: str) -> pa.Array:
    """Ids as text (vocabularies, TSVs) back to the type of their source column; a non-number (an OOV row) is null."""
    text = pa.array(ids, pa.string())
    if column_type == "string":
        return text
    try:
        return text.cast(_ARROW_ID_TYPES[column_type])
    except pa.ArrowInvalid:
        return pa.array([_number(v, column_type) for v in ids], _ARROW_ID_TYPES[column_type])


def _number(text: str, column_type: str):
    try:
        return int(text) if column_type == "int" else float(text)
    except ValueError:
        return None


def load_npy(path: str) -> np.ndarray:
    with tf.io.gfile.GFile(path, "rb") as f:
        return np.load(io.BytesIO(f.read()))
