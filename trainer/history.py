"""A user's history as a user-tower input: the mean embedding of the items they rated in train.

With ratings as sparse as real ones (half the items rated a handful of
times), a user id's own vector learns slowly; the items a user rated say
more, and they also describe a user the model never saw.  While training,
the example's own item is left out of its user's history, so the model
cannot read the answer from its input.  The history (a CSR of user -> items
from the train split) is part of the model: serving looks it up by user id,
or takes the items a new user rated (`recommend --history`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras


class UserHistory(keras.layers.Layer):
    """user ids -> mean embedding of the items each user rated (zeros for a user with none)."""

    def __init__(self, num_items: int, dim: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_items, self.dim = num_items, dim
        self.item_embeddings = keras.layers.Embedding(
            num_items, dim, name="history_item_embedding",
            embeddings_regularizer=keras.regularizers.l2(l2) if l2 else None)
        self.rows: tf.RaggedTensor | None = None  # set by `remember` before fit

    def remember(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        """The train split's items per user id; one empty row at the end stands for unknown users."""
        splits = np.r_[indptr, indptr[-1]].astype(np.int64)
        self.rows = tf.RaggedTensor.from_row_splits(tf.constant(indices, tf.int64), tf.constant(splits))

    def call(self, user_ids: tf.Tensor, leave_out: tf.Tensor | None = None) -> tf.Tensor:
        ids = tf.reshape(tf.cast(user_ids, tf.int64), [-1])
        unknown = tf.cast(self.rows.nrows() - 1, tf.int64)
        items = tf.gather(self.rows, tf.where((ids >= 0) & (ids < unknown), ids, unknown))
        if leave_out is not None:
            target = tf.reshape(tf.cast(leave_out, tf.int64), [-1, 1])
            items = tf.ragged.boolean_mask(items, tf.not_equal(items, target))
        return self.mean_of(items)

    def mean_of(self, items: tf.RaggedTensor) -> tf.Tensor:
        """The mean embedding of each row's item indices: a history given at serving, or looked up by id."""
        if not self.item_embeddings.built:
            self.item_embeddings.build((None,))
        vectors = tf.ragged.map_flat_values(tf.gather, self.item_embeddings.embeddings, items)
        count = tf.cast(tf.maximum(items.row_lengths(), 1), tf.float32)[:, None]
        return tf.reduce_sum(vectors, axis=1) / count
