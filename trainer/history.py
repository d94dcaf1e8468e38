"""A user's history as a user-tower input: the embeddings of the items they rated in train, summed and divided
by the square root of their count.

With ratings as sparse as real ones (half the items rated a handful of
times), a user id's own vector learns slowly; the items a user rated say
more, and they also describe a user the model never saw.  While training,
the example's own item is left out of its user's history, so the model
cannot read the answer from its input.  The history (a CSR of user -> items
from the train split) is part of the model: serving looks it up by user id,
or takes the items a new user rated (`recommend --history`).

Cost is what decides the shape of this layer.  Heavy users appear in many
examples, so gathering each example's whole history would cost the batch
times E[n^2]/E[n] rows (hundreds per example on MovieLens-shaped data).
Instead each user's history is kept to at most `HISTORY_MAX_ITEMS` items (a
seeded random sample of a longer one, as YouTube's and Pinterest's
recommenders cap theirs), it is
summed once per distinct user of a batch, and the left-out item is taken
off that sum per example.

Why the square root and not a mean (FISM, Kabbur et al. 2013, normalises by
n^0.5; Mult-DAE's L2-normalised input bag is the same for a 0/1 history): a
mean scales both the history's signal and every history row's gradient by
1/n, so the rows heavy users read barely move.  Measured on ratings shaped
like ml-latest-small with the user tower reading only its history, a mean
stayed at the most-popular list's recall@10 (0.07) after 10 epochs where
the square root reached 0.115.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from embedding_uses.rated import csr_from_pairs
from trainer.sparse_l2 import penalise_rows
from embedding_uses.rated import capped_rows, HISTORY_MAX_ITEMS

TRAIN_SAMPLE = 32  # history items drawn per distinct user and batch while training...
TRAIN_ROWS_PER_BATCH = 32_768  # ...fewer (down to TRAIN_SAMPLE_MIN) when a batch holds more users than this allows
TRAIN_SAMPLE_MIN = 8


class UserHistory(keras.layers.Layer):
    """user ids -> the embeddings of the items each user rated, summed / sqrt(count) (zeros for a user with none)."""

    def __init__(self, num_items: int, dim: int, l2: float = 0.0, dropout: float = 0.0,
                 max_items: int = HISTORY_MAX_ITEMS, **kwargs):
        super().__init__(**kwargs)
        self.num_items, self.dim, self.l2, self.dropout, self.max_items = num_items, dim, l2, dropout, max_items
        self.item_embeddings = keras.layers.Embedding(num_items, dim, name="history_item_embedding")
        self.rows: tf.RaggedTensor | None = None  # set by `remember` before fit

    def remember(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        """The train split's items per user id; one empty row at the end stands for unknown users."""
        indptr, indices = capped_rows(indptr, indices, self.max_items)
        splits = np.r_[indptr, indptr[-1]].astype(np.int64)
        self.rows = tf.RaggedTensor.from_row_splits(tf.constant(indices, tf.int64), tf.constant(splits))

    def remember_pairs(self, users: np.ndarray, items: np.ndarray) -> None:
        """`remember` from (user id, item id) pairs of train examples."""
        n_users = int(users.max()) + 1 if len(users) else 0
        self.remember(*csr_from_pairs(users, items, n_users, self.num_items))

    def call(self, user_ids: tf.Tensor, leave_out: tf.Tensor | None = None, training: bool = False,
             new_users: tf.Tensor | None = None) -> tf.Tensor:
        """Each user's history vector, `leave_out` (per example) taken out of it.

        In training the vector is estimated from TRAIN_SAMPLE items drawn from each distinct user's history
        for the batch (`_sampled`); otherwise it is exact.  The users of `new_users` (per example, the same for
        every example of a user) are played as users who arrived recently: each keeps only its most rated
        items, a share of its history drawn uniformly from 0 to 1 (a new user has rated few items, mostly
        popular ones, as MovieLens asks newcomers to rate popular titles), so the tower learns to serve the
        histories new users bring (`recommend --history`), not only the long ones of the train split.
        """
        ids = tf.reshape(tf.cast(user_ids, tf.int64), [-1])
        unknown = tf.cast(self.rows.nrows() - 1, tf.int64)
        distinct, position = tf.unique(tf.where((ids >= 0) & (ids < unknown), ids, unknown))
        target = None if leave_out is None else tf.reshape(tf.cast(leave_out, tf.int64), [-1])
        if training:
            return self._sampled(distinct, position, target, new_users)
        items = tf.gather(self.rows, distinct)
        vectors = tf.ragged.map_flat_values(self._lookup, items)
        sums = tf.gather(tf.reduce_sum(vectors, axis=1), position)
        counts = tf.cast(tf.gather(items.row_lengths(), position), tf.float32)
        if target is not None:
            held = tf.reduce_any(tf.equal(tf.gather(items, position), target[:, None]), axis=1)
            sums -= tf.where(held[:, None], self._lookup(target), 0.0)
            counts -= tf.cast(held, tf.float32)
        return sums * tf.math.rsqrt(tf.maximum(counts, 1.0))[:, None]

    def _sampled(self, distinct: tf.Tensor, position: tf.Tensor, target: tf.Tensor | None,
                 new_users: tf.Tensor | None) -> tf.Tensor:
        """The training estimate: the mean of TRAIN_SAMPLE items drawn (with replacement) from each distinct
        user's history, `dropout` of them hidden, times sqrt(history length): in expectation the exact vector.
        A batch of many distinct users (a million users' ratings) draws fewer per user, so that a batch reads
        at most TRAIN_ROWS_PER_BATCH history rows: each row read is also a row the optimizer updates, and
        those sparse updates were most of a step's time at batch 4096.

        Sampling keeps a step's cost fixed however long the histories are (a
        heavy user's 100 items would otherwise be gathered, and their rows
        updated, in every batch the user is in), and a fresh sample each batch
        is the denoising that keeps the model from leaning on a few items.  An
        example's own item is taken out of the sample wherever it was drawn.
        """
        splits = self.rows.row_splits
        starts = tf.gather(splits, distinct)
        lengths = tf.cast(tf.gather(splits, distinct + 1) - starts, tf.float32)
        if new_users is not None:  # a new user's history: its most rated items (rows are in vocabulary order)
            new = tf.math.unsorted_segment_max(tf.cast(new_users, tf.int32), position, tf.size(distinct)) > 0
            lengths = tf.where(new, tf.math.ceil(tf.random.uniform(tf.shape(lengths)) * lengths), lengths)
        per_user = tf.clip_by_value(TRAIN_ROWS_PER_BATCH // tf.size(distinct), TRAIN_SAMPLE_MIN, TRAIN_SAMPLE)
        shape = tf.stack([tf.size(distinct), per_user])
        slots = starts[:, None] + tf.cast(tf.random.uniform(shape) * lengths[:, None], tf.int64)
        drawn = tf.gather(self.rows.flat_values, tf.minimum(slots, tf.maximum(splits[-1] - 1, 0)))
        kept = (lengths[:, None] > 0) & (tf.random.uniform(shape) >= self.dropout)
        vectors = self._lookup(drawn) * tf.cast(kept, tf.float32)[:, :, None]
        penalise_rows(self, vectors, self.l2, tf.size(position))
        sums = tf.gather(tf.reduce_sum(vectors, axis=1), position)
        counts = tf.gather(tf.reduce_sum(tf.cast(kept, tf.float32), axis=1), position)
        length = tf.gather(lengths, position)
        if target is not None:
            hits = tf.reduce_sum(tf.cast(tf.gather(kept, position) & tf.equal(tf.gather(drawn, position),
                                                                              target[:, None]), tf.float32), axis=1)
            sums -= hits[:, None] * self._lookup(target)
            counts -= hits
            length -= 1.0  # the example's own item is one of its user's items
        return sums / tf.maximum(counts, 1.0)[:, None] * tf.sqrt(tf.maximum(length, 1.0))[:, None]

    def vector_of(self, items: tf.RaggedTensor) -> tf.Tensor:
        """The history vector of each row's item indices: a history given at serving, or looked up by id."""
        scale = tf.math.rsqrt(tf.cast(tf.maximum(items.row_lengths(), 1), tf.float32))[:, None]
        return tf.reduce_sum(tf.ragged.map_flat_values(self._lookup, items), axis=1) * scale

    def _lookup(self, items: tf.Tensor) -> tf.Tensor:
        if not self.item_embeddings.built:
            self.item_embeddings.build((None,))
        return tf.nn.embedding_lookup(self.item_embeddings.embeddings, items)  # a ShardedVariable too (ps tasks)
