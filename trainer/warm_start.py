"""Warm start from an earlier model version, carrying embedding rows over by token as vocabularies grow.

A new span adds users and items, and TFT orders a vocabulary by frequency,
so row i of a table means another token from one day to the next: restoring
the earlier weights as they are scrambles every id table (and a table of
another size cannot be restored at all).  Instead, as
`tf.keras.utils.warmstart_embedding_matrix` does, each row of a table
indexed by a vocabulary is copied from the earlier row of the same token;
tokens new to this vocabulary keep the row this model started with (for
biases, the bias-only baseline of the new data).  Every other trainable
variable of the same shape is copied as it is; non-trainable ones (the
global mean, the label range) stay this data's.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from stage_contracts import manifest as mf
from features.spec import FeatureSpec

log = logging.getLogger(__name__)
WEIGHTS_DIR = "weights"  # Keras weights beside the SavedModel


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """What a warm start carried over: variables copied, id-table rows carried by token, tokens new to a table."""

    from_version: str
    variables: int
    rows_carried: int
    rows_new: int

    def summary(self) -> str:
        return (f"Warm-starting from {self.from_version}: {self.variables} variables, {self.rows_carried:,} id rows "
                f"carried over by token, {self.rows_new:,} new ids start fresh")


def weights_path(version_dir: str) -> str:
    return os.path.join(version_dir, WEIGHTS_DIR, "weights")


def warm_start(model, spec: FeatureSpec, tft_output: tft.TFTransformOutput, from_version: str,
               sample_batch: dict) -> WarmStart | None:
    """Seed `model` (prepared, not yet fitted) from the version in `from_version`; None when it has no weights."""
    from trainer.model import build_model

    if not tf.io.gfile.glob(weights_path(from_version) + "*"):
        log.info("Not warm-starting from %s: it holds no weights; training from scratch", from_version)
        return None
    previous = build_model(spec, mf.read_json(os.path.join(from_version, mf.MANIFEST)))
    previous.build_every_layer(_zeros_like(sample_batch))
    previous.load_weights(weights_path(from_version)).expect_partial()
    model.build_every_layer(sample_batch)
    if len(model.weights) != len(previous.weights):
        log.info("Not warm-starting from %s: its model has other layers; training from scratch", from_version)
        return None
    tables = {id(variable): feature for variable, feature in model.vocabulary_tables()}
    old_tokens = {feature: _asset_tokens(from_version, feature) for feature in set(tables.values())}
    copied = carried = new = 0
    for variable, old in zip(model.weights, previous.weights):
        if not variable.trainable:
            continue
        feature = tables.get(id(variable))
        if feature is not None and old_tokens[feature] is not None:
            rows, fresh = _carry_rows(variable.numpy(), old.numpy(), old_tokens[feature],
                                      [t.decode("utf-8", "replace") for t in tft_output.vocabulary_by_name(feature)])
            variable.assign(rows)
            carried, new = carried + len(rows) - fresh, new + fresh
        elif tuple(variable.shape) == tuple(old.shape):
            variable.assign(old)
        else:
            continue
        copied += 1
    result = WarmStart(from_version, copied, carried, new)
    log.info(result.summary())
    return result


def _carry_rows(current: np.ndarray, old: np.ndarray, old_tokens: list[str], new_tokens: list[str]) -> tuple[np.ndarray,
                                                                                                              int]:
    """`current` with each known token's row taken from `old`; out-of-vocabulary rows (past the tokens) likewise when
    both tables have them.  Returns the rows and how many tokens were new."""
    position = {token: i for i, token in enumerate(old_tokens)}
    rows = current.copy()
    source = np.array([position.get(token, -1) for token in new_tokens], np.int64)
    known = np.flatnonzero(source >= 0)
    rows[known] = old[source[known]]
    oov = min(len(rows) - len(new_tokens), len(old) - len(old_tokens))
    if oov > 0:
        rows[len(new_tokens):len(new_tokens) + oov] = old[len(old_tokens):len(old_tokens) + oov]
    return rows, len(new_tokens) - len(known)


def _asset_tokens(version_dir: str, feature: str) -> list[str] | None:
    """The earlier version's vocabulary of `feature` (its SavedModel's asset file), or None when it has none."""
    path = os.path.join(version_dir, "assets", feature)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as f:
        return [line.decode("utf-8", "replace") for line in f.read().split(b"\n")[:-1]]


def _zeros_like(batch: dict) -> dict:
    """A batch of the same structure whose ids are all 0: valid input for a model with smaller tables."""
    return {name: (tf.SparseTensor(value.indices, tf.zeros_like(value.values), value.dense_shape)
                   if isinstance(value, tf.SparseTensor) else tf.zeros_like(value)) for name, value in batch.items()}
