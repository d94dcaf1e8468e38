"""The retrieval objective: learn which items a user picks, as a softmax over items (TensorFlow Recommenders' way).

For each (user, item) example the item is the positive and other items the
negatives.  Logits are `scale * <user, item> + pick_bias[item]`: the pick
bias carries how often an item is picked at all, the dot product what this
user picks more than others.  Negatives come from one of two places:

- the full catalogue (every item through the item tower each step): exact,
  for catalogues up to FULL_SOFTMAX_MAX_ITEMS;
- the items of the batch's first `IN_BATCH_NEGATIVES` examples (batches
  are random permutations, so these are a sample of items by popularity),
  with the log-Q correction (subtract log(share of examples holding the
  item)) so popular items, which are drawn as negatives more often, are not
  pushed down for it; a negative equal to the example's own item is not a
  negative ("accidental hit").  Scoring every example against a sample
  rather than the whole batch keeps the step's cost linear in the batch:
  at batch 4096 the whole batch would be 16.7M logits a step, most of the
  step's time on two cores.

Items are ranked for a user by the same logit, so recommendations, the
ranking metrics and this loss agree.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

FULL_SOFTMAX_MAX_ITEMS = 20_000
IN_BATCH_NEGATIVES = 1024
_MASKED = -1e9


@dataclasses.dataclass
class Candidates:
    """Where negatives come from: every item's transformed features (full softmax) or the items' train shares."""

    log_q: tf.Tensor  # log(share of train examples) per item id; in-batch correction
    features: dict | None = None  # item features of ids 0..n-1 for a full softmax, or None for in-batch negatives

    @classmethod
    def from_counts(cls, counts: np.ndarray, features: dict | None) -> "Candidates":
        share = (counts + 1.0) / (counts.sum() + len(counts))  # smoothed: an item never seen still has a share
        return cls(tf.constant(np.log(share), tf.float32), features)


class RetrievalTask(keras.layers.Layer):
    """The pick bias and logit scale, and the softmax loss over items."""

    def __init__(self, num_items: int, **kwargs):
        super().__init__(**kwargs)
        self.num_items = num_items
        self.pick_bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros", name="pick_bias")
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(1.0))
        self.candidates: Candidates | None = None  # set by the trainer before fit
        self.built = True  # read through logits/loss, never called: built here, where its weights are made (export)

    def logits(self, users: tf.Tensor, items: tf.Tensor, item_ids: tf.Tensor,
               log_q: tf.Tensor | None = None) -> tf.Tensor:
        """[users, items] logits of picking each item, less each item's `log_q` (the sampling correction) if given."""
        offset = tf.reshape(self.pick_bias(item_ids), [-1])
        if log_q is not None:
            offset -= log_q
        return tf.matmul(self.scale * users, items, transpose_b=True) + offset[None, :]

    def loss(self, users: tf.Tensor, item_ids: tf.Tensor, items: tf.Tensor, item_tower) -> tf.Tensor:
        """Mean softmax cross-entropy of each example's item among its negatives."""
        ids = tf.reshape(item_ids, [-1])
        if self.candidates.features is not None:
            every_item = item_tower(self.candidates.features)
            logits = self.logits(users, every_item, tf.range(tf.shape(every_item)[0], dtype=ids.dtype))
            known = ids < tf.cast(tf.shape(every_item)[0], ids.dtype)  # out-of-vocabulary items are not candidates
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.where(known, ids, 0), logits)
            return tf.math.divide_no_nan(tf.reduce_sum(tf.where(known, losses, 0.0)),
                                         tf.reduce_sum(tf.cast(known, tf.float32)))
        return self._sampled_loss(users, ids, items)

    def _sampled_loss(self, users: tf.Tensor, ids: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
        """The softmax over each example's own item and the batch's first IN_BATCH_NEGATIVES items, log-Q corrected.

        Written as log(exp(positive) + sum(exp(negatives))) - positive, without
        concatenating the positive column, and with the scale and per-item
        terms applied before the [batch, negatives] matrix: each pass over that
        matrix is a measurable share of the step.
        """
        log_q = tf.gather(self.candidates.log_q, ids)
        positive = (tf.reduce_sum(self.scale * users * items, axis=1) + tf.reshape(self.pick_bias(ids), [-1]) - log_q)
        negative_ids = ids[:IN_BATCH_NEGATIVES]
        negatives = self.logits(users, items[:IN_BATCH_NEGATIVES], negative_ids, log_q[:IN_BATCH_NEGATIVES])
        negatives = tf.where(tf.equal(ids[:, None], negative_ids[None, :]), _MASKED, negatives)
        normaliser = tf.reduce_logsumexp(tf.stack([positive, tf.reduce_logsumexp(negatives, axis=1)], axis=1), axis=1)
        return tf.reduce_mean(normaliser - positive)
