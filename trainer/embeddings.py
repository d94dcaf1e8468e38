"""The trained embeddings, saved beside the model for similar items, top-K and other models.

Layout of `embeddings/` in a model version folder:

- `tables/<feature>.npy`: each categorical feature's raw embedding table
  (rows in vocabulary order, then the out-of-vocabulary buckets) and
  `tables/<feature>.vocab` with the value of each vocabulary row.
- two-tower models also get tower outputs, the vectors whose dot product
  scores a user x item pair: `items.npy` + `items.tsv` (id, and the side
  table's columns such as title and genres) and `users.npy` + `users.tsv`.
- `parquet/`: every table as (id, e0, e1, ...), the id typed like the
  source column it came from (MovieLens ids are int64), so a join with the
  source table needs no cast.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_transform as tft

from features.spec import FeatureSpec
from trainer.catalogue import batched, item_rows, transform_rows, vocabulary
from trainer.model import SpecModel
from embedding_uses.ranking_score import RankingWeights
from embedding_uses.vectors import Interactions, TowerVectors
from embedding_uses.layout import EMBEDDINGS_DIR, PARQUET_DIR, RATING_ITEMS_FILE, typed_ids

log = logging.getLogger(__name__)
_WRITE_PIECE = 16 * 2**20  # bytes per GFile write when a file is written from one buffer


def source_type(spec: FeatureSpec, feature: str) -> str:
    """The type of the raw column a feature reads (`string` for derived values and crosses)."""
    source = spec.feature(feature).source
    return next((c.type for c in spec.columns if c.name == source), "string")


def compute_vectors(model: SpecModel, spec: FeatureSpec, tft_output: tft.TFTransformOutput,
                    side_table: pa.Table | None) -> TowerVectors | None:
    """Tower outputs for every known user and item (models that learn user and item ids; else None)."""
    if not model.id_features:
        return None
    rows = item_rows(spec, tft_output, side_table)
    n_items = len(next(iter(rows.values())))
    item_features = transform_rows(tft_output, spec, rows)
    item_inputs = {k: item_features[k] for k in model.item_features}
    items = batched(model.item_vectors, item_inputs)
    user_ids = vocabulary(tft_output, model.user_id)
    if set(model.user_features) != {model.user_id}:
        log.info("User tower uses more than the user id; user vectors cover the id only where other "
                 "features are at their defaults")
    users = model.known_user_vectors(np.arange(len(user_ids)))
    item_meta = {spec.feature(model.item_id).source: [str(v) for v in rows[spec.feature(model.item_id).source]]}
    for name in (spec.join.columns if spec.join else ()):
        item_meta[name] = [str(v) for v in rows[name]]
    item_bias = model.item_bias.embeddings.numpy()[:n_items, 0]
    retrieval = model.retrieval
    return TowerVectors(items=items, item_meta=item_meta, users=users,
                        user_meta={spec.feature(model.user_id).source: user_ids},
                        item_bias=item_bias, user_bias=model.user_bias.embeddings.numpy()[:len(user_ids), 0],
                        global_mean=float(model.global_mean.numpy()),
                        ranking_bias=retrieval.pick_bias.embeddings.numpy()[:n_items, 0] if retrieval else item_bias,
                        rating_items=batched(model.rating_item_vectors, item_inputs),
                        ranking_scale=float((retrieval.scale if retrieval else model.rating_scale).numpy()),
                        label_range=tuple(float(x) for x in model.label_range.numpy()))


def write_embeddings(folder: str, model: SpecModel, tft_output: tft.TFTransformOutput,
                     vectors: TowerVectors | None, interactions: Interactions | None,
                     weights: RankingWeights = RankingWeights(), spec: FeatureSpec | None = None) -> None:
    """Write `embeddings/`: raw tables, and for id-learning models tower vectors, biases, rated pairs, Parquet.

    `spec` types the Parquet ids like their source columns (without it they are strings).
    """
    root = os.path.join(folder, EMBEDDINGS_DIR)
    tf.io.gfile.makedirs(os.path.join(root, "tables"))
    tf.io.gfile.makedirs(os.path.join(root, PARQUET_DIR))
    for name, table in model.embedding_tables().items():
        _write_table(root, name, table.numpy(), tft_output, source_type(spec, name) if spec else "string")
    if vectors is not None:
        for kind, array, meta, bias, feature in (
                ("items", vectors.items, vectors.item_meta, vectors.item_bias, model.item_id),
                ("users", vectors.users, vectors.user_meta, vectors.user_bias, model.user_id)):
            _save_npy(os.path.join(root, f"{kind}.npy"), array)
            _save_npy(os.path.join(root, f"{kind[:-1]}_bias.npy"), bias)
            _save_tsv(os.path.join(root, f"{kind}.tsv"), meta)
            ids = typed_ids(next(iter(meta.values())), source_type(spec, feature) if spec else "string")
            _save_parquet(os.path.join(root, PARQUET_DIR, f"{kind}.parquet"), ids, array)
        _save_npy(os.path.join(root, "ranking_bias.npy"), vectors.ranking_bias)
        _save_npy(os.path.join(root, RATING_ITEMS_FILE), vectors.rating_items)
        with tf.io.gfile.GFile(os.path.join(root, "scoring.json"), "w") as f:
            f.write(json.dumps({
                "global_mean": vectors.global_mean, **weights.to_dict(),
                "ranking_scale": vectors.ranking_scale, "label_range": list(vectors.label_range),
                "rating": "user . rating_item + user_bias + item_bias + global_mean, clipped to label_range "
                          f"(users.npy, {RATING_ITEMS_FILE})",
                "ranking": "ranking_scale * user . item + ranking_bias + rating_weight * rating "
                           "+ popularity_weight * log1p(item_count)"},
                indent=2) + "\n")
    if interactions is not None:
        buf = io.BytesIO()  # uncompressed: zlib took 11 s at 20M pairs to save 34 of 84 MB
        np.savez(buf, indptr=interactions.rated_indptr, indices=interactions.rated_indices.astype(np.int32))
        _write_in_pieces(os.path.join(root, "rated.npz"), buf.getbuffer())
        _save_npy(os.path.join(root, "item_count.npy"), interactions.item_count)


def _write_table(root: str, name: str, weights: np.ndarray, tft_output: tft.TFTransformOutput,
                 column_type: str) -> None:
    """One feature's embedding table as .npy (+ .vocab) and Parquet, rows named by value, OOV bucket or number.

    A vocabulary's rows carry its values typed like the source column; its out-of-vocabulary rows are
    `<oov-N>` for a string column and null for a numeric one.  Buckets and crosses are numbered (int64).
    """
    _save_npy(os.path.join(root, "tables", f"{name}.npy"), weights)
    try:
        words = vocabulary(tft_output, name)
    except (ValueError, tf.errors.NotFoundError):
        words = None  # buckets and crosses have no vocabulary: rows are bucket ids
    else:
        with tf.io.gfile.GFile(os.path.join(root, "tables", f"{name}.vocab"), "w") as f:
            f.write("\n".join(words) + "\n")
    if words:
        ids = typed_ids(words + [f"<oov-{i}>" for i in range(len(weights) - len(words))], column_type)
    else:
        ids = pa.array(np.arange(len(weights), dtype=np.int64))
    _save_parquet(os.path.join(root, PARQUET_DIR, f"{name}.parquet"), ids, weights)


def _save_parquet(path: str, ids: pa.Array, vectors: np.ndarray) -> None:
    """(id, e0, e1, ...): one float column per dimension, so any tool can join on id."""
    columns = {"id": ids}
    for d in range(vectors.shape[1]):
        columns[f"e{d}"] = pa.array(vectors[:, d].astype(np.float32))
    buf = pa.BufferOutputStream()  # pyarrow cannot write into a GFile (local or gs://) itself
    pq.write_table(pa.table(columns), buf)
    _write_in_pieces(path, buf.getvalue())


def _write_in_pieces(path: str, content: pa.Buffer | memoryview) -> None:
    """Write a buffer (bytes-like) a piece at a time: GFile takes only bytes, and a bytes copy of the whole file
    is what this avoids (as `_save_npy` does for arrays).  A million users' vectors are 0.26 GB, and whole-file
    copies were part of the train stage's last high-water mark at that size."""
    view = memoryview(content)
    with tf.io.gfile.GFile(path, "wb") as f:
        for start in range(0, len(view), _WRITE_PIECE):
            f.write(bytes(view[start:start + _WRITE_PIECE]))


def _save_npy(path: str, array: np.ndarray) -> None:
    with tf.io.gfile.GFile(path, "wb") as f:
        np.save(f, array.astype(np.float32, copy=False))  # into a file object, numpy writes 16 MiB at a time


def _save_tsv(path: str, columns: dict[str, list[str]]) -> None:
    buf = io.StringIO()  # a row at a time into a GFile is 5x slower; the file is small (7 MB at 1M users)
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values()))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(buf.getvalue())


