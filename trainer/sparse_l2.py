"""L2 on the embedding rows a batch reads, not on whole tables.

Keras's `embeddings_regularizer` penalises every row of a table on every
step, which turns each embedding gradient dense: with 1M users that is a
dense update of the whole table (and of Adam's two moments) per batch, far
more work than the batch itself, and it undoes what `LazyAdam` saves.  The
penalty here is on the rows a batch looked up, per example: a row is
regularised as often as it is used, as in the classic SGD matrix
factorisation (Koren et al.), and gradients stay sparse.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def penalise_rows(layer: keras.layers.Layer, vectors: tf.Tensor, l2: float, examples: tf.Tensor) -> None:
    """Add `l2 * sum(vectors^2) / examples` to `layer`'s losses (nothing when `l2` is 0)."""
    if l2:
        layer.add_loss(l2 * tf.reduce_sum(tf.square(vectors)) / tf.cast(tf.maximum(examples, 1), tf.float32))
