"""Every item's features as the model sees them: the item-id vocabulary, joined attributes, the transform graph.

An item is known by its id alone at serving time; its other inputs (a
movie's genres and year) come from the side table through the same TFT
graph as in preprocessing.  Computed here once for all items, they feed the
item tower for exported item vectors and for a full softmax over the
catalogue during training.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft

from features.graph import raw_columns
from features.spec import FeatureSpec


def vocabulary(tft_output: tft.TFTransformOutput, name: str) -> list[str]:
    return [v.decode("utf-8", errors="replace") for v in tft_output.vocabulary_by_name(name)]


def item_rows(spec: FeatureSpec, tft_output: tft.TFTransformOutput, side_table: pa.Table | None) -> dict:
    """Raw rows for every item in the item-id vocabulary, with their side-table attributes."""
    item_feature = spec.feature(spec.model.item_id)
    ids = vocabulary(tft_output, item_feature.name)
    column = spec.column(item_feature.source)
    raw_ids = np.array([int(i) for i in ids], np.int64) if column.type == "int" else np.array(ids, object)
    rows = {item_feature.source: raw_ids}
    if spec.join and side_table is not None:
        keys = side_table.column(spec.join.key).to_numpy()
        position = {k: i for i, k in enumerate(keys.tolist())}
        index = [position.get(k, -1) for k in raw_ids.tolist()]
        for name in spec.join.columns:
            values = side_table.column(name).fill_null("").to_pylist() + [""]
            rows[name] = np.array([values[i] for i in index], dtype=object)
    return rows


def transform_rows(tft_output: tft.TFTransformOutput, spec: FeatureSpec, raw: dict) -> dict:
    """Run raw rows through the transform graph in memory (label and unused columns filled)."""
    n = len(next(iter(raw.values())))
    tensors = {}
    for column in raw_columns(spec):
        if column.name in raw:
            values = tf.constant(raw[column.name])
        else:
            values = tf.zeros([n], tf.string if column.type == "string" else tf.float32)
            values = values if column.type != "int" else tf.zeros([n], tf.int64)
        if not column.required:
            values = tf.sparse.from_dense(tf.expand_dims(values, 1))
        tensors[column.name] = values
    return tft_output.transform_raw_features(tensors, drop_unused_features=True)


BATCH = 8192


def batched(fn, features: dict, batch: int = BATCH) -> np.ndarray:
    """`fn` (a tower) over the rows of `features` (dense or sparse tensors) a batch at a time, as one array."""
    n = int(tf.shape(next(iter(features.values())), out_type=tf.int64)[0])
    out = []
    for start in range(0, n, batch):
        part = {k: (tf.sparse.slice(v, [start, 0], [batch, v.dense_shape[1]]) if isinstance(v, tf.SparseTensor)
                    else v[start:start + batch]) for k, v in features.items()}
        out.append(fn(part).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
