"""Statistics a feature needs from the train split before it can be applied: a vocabulary, moments, quantiles.

A feature kind asks for at most one (`Feature.statistic`); the preprocessing
function gathers every feature's request first and hands them all to an
analyzer strategy, which fills in each request's `result`, and only then
applies the features.  Gathering first is what lets the preprocess job
compute the statistics of a wide spec together (one vocabulary analyzer,
one moments combiner: beam_jobs/transform.py) instead of one chain of Beam
stages per feature; `compute` is the way TFT's guide computes a single one,
used by the reference pipeline and for any request a strategy does not pack.

TensorFlow Transform is imported inside `compute` only: reading a spec needs
no TensorFlow, and the trainer never computes statistics.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Statistic:
    """One feature's request; `result` is set by the analyzer strategy before the feature is applied."""

    name: str
    result: Any = dataclasses.field(default=None, init=False)

    def compute(self) -> Any:
        """This statistic alone, as TFT's guide computes it (the reference, and the fallback of a strategy)."""
        raise NotImplementedError


@dataclasses.dataclass
class TokenCounts(Statistic):
    """A vocabulary of `text` (dense or sparse strings); the result is its file's path, registered under `name`.

    A strategy that looks every vocabulary up at once (the preprocess job's)
    also sets `positions` (each value's line in the file, -1 if absent, the
    shape of `text`) and `size` (the file's lines); `ids` then finishes the
    lookup as `tft.apply_vocabulary` would, without a table of its own.
    """

    text: Any = None
    top_k: int | None = None
    frequency_threshold: int = 1
    positions: Any = dataclasses.field(default=None, init=False)
    size: Any = dataclasses.field(default=None, init=False)

    @property
    def min_count(self) -> int | None:
        """The threshold as TFT takes it: None when every token counts."""
        return self.frequency_threshold if self.frequency_threshold > 1 else None

    def compute(self) -> Any:
        import tensorflow_transform as tft

        return tft.vocabulary(self.text, top_k=self.top_k, frequency_threshold=self.min_count,
                              vocab_filename=self.name, name=self.name)

    def ids(self, num_oov_buckets: int) -> Any:
        """`tft.apply_vocabulary(text, result, num_oov_buckets)`: ids, values not in the file hashed into OOV buckets.

        As TF's StaticVocabularyTable hashes them (fast string hash), with
        the same range recorded in the schema, so the output equals TFT's.
        `num_oov_buckets` is at least 1, as a spec requires.
        """
        import tensorflow as tf
        import tensorflow_transform as tft
        from tensorflow_transform import schema_inference

        if self.positions is None:
            return tft.apply_vocabulary(self.text, self.result, num_oov_buckets=num_oov_buckets)
        sparse = isinstance(self.text, tf.SparseTensor)
        text, positions = (self.text.values, self.positions.values) if sparse else (self.text, self.positions)
        oov = self.size + tf.strings.to_hash_bucket_fast(text, num_oov_buckets)
        values = tf.where(positions < 0, oov, positions)
        schema_inference.set_tensor_schema_override(values, tf.constant(0, tf.int64), self.size + num_oov_buckets - 1)
        return tf.SparseTensor(self.text.indices, values, self.text.dense_shape) if sparse else values


    def indices(self) -> Any:
        """Each value's line in the vocabulary file, -1 for a value not in it (a label's class index)."""
        import tensorflow as tf
        import tensorflow_transform as tft

        if self.positions is None:
            return tft.apply_vocabulary(self.text, self.result, default_value=-1)
        return tf.cast(self.positions, tf.int64)


@dataclasses.dataclass
class Moments(Statistic):
    """Mean and variance of the finite entries of `values` (NaN: unknown); the result is (mean, variance)."""

    values: Any = None

    def compute(self) -> Any:
        import tensorflow as tf
        import tensorflow_transform as tft

        with tf.name_scope(self.name):
            observed = tf.boolean_mask(self.values, tf.math.is_finite(self.values))
            return tft.mean(observed, name="mean"), tft.var(observed, name="var")


@dataclasses.dataclass
class QuantileBoundaries(Statistic):
    """`num_buckets` quantile buckets of the finite entries of `values`; the result is their boundaries."""

    values: Any = None
    num_buckets: int = 2
    epsilon: float = 0.01

    def compute(self) -> Any:
        import tensorflow as tf
        import tensorflow_transform as tft

        observed = tf.boolean_mask(self.values, tf.math.is_finite(self.values))
        return tft.quantiles(observed, self.num_buckets, epsilon=self.epsilon, name=self.name)
