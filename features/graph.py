"""The TensorFlow side of a spec that both stages share: the raw schema and the preprocessing function.

Everything that must also happen at serving time lives in this graph:
derived values, splitting of multivalent strings, vocabularies, buckets,
z-scores and hashed crosses (each feature kind's own `apply`).  The exported
model replays exactly this graph on raw requests.  No Beam here: the
preprocess job hands in how the features' statistics are computed
(beam_jobs/transform.py), and the trainer only needs the raw schema.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from features.spec import LOG_FLOOR, Column, FeatureSpec
from features.analyzers import Statistic, TokenCounts
from features.transforms import GraphContext

TF_TYPES = {"int": tf.int64, "float": tf.float32, "string": tf.string}
LABEL_VOCABULARY = "label_classes"  # the vocabulary file of a label's classes (TFTransformOutput.vocabulary_by_name)


def raw_columns(spec: FeatureSpec) -> tuple[Column, ...]:
    """The columns the transform reads: what features and the label need, nothing else."""
    needed = spec.needed_values() | {spec.label.column}
    return tuple(c for c in spec.columns if c.name in needed)


def raw_feature_spec(spec: FeatureSpec, include_label: bool = True) -> dict:
    """tf.io feature spec of the raw columns: optional columns are VarLen (0 or 1 value)."""
    out = {}
    for column in raw_columns(spec):
        if column.name == spec.label.column and not include_label:
            continue
        dtype = TF_TYPES[column.type]
        out[column.name] = tf.io.FixedLenFeature([], dtype) if column.required else tf.io.VarLenFeature(dtype)
    return out


# Fills in the `result` of every statistic the features asked for, all at once.
Analyzers = Callable[[list[Statistic]], None]


def make_preprocessing_fn(spec: FeatureSpec, analyzers: Analyzers) -> Callable[[dict], dict]:
    """Build the TFT preprocessing_fn that a spec describes.

    Every feature first says which statistic of the train split it needs;
    `analyzers` computes them all (the preprocess job packs them into a few
    analyzers, the reference pipeline runs one TFT analyzer each:
    beam_jobs/transform.py); then the features are applied in spec order.
    """

    @tf.autograph.experimental.do_not_convert  # straight-line graph code: skip autograph's rewrite on each trace
    def preprocessing_fn(inputs: dict) -> dict:
        values = {c.name: _dense(inputs[c.name], c) for c in raw_columns(spec)}
        needed = spec.needed_values()
        for derived in spec.derived:
            if derived.name in needed:
                values[derived.name] = derived.apply(values)
        outputs: dict = {}
        context = GraphContext(values, outputs)
        for feature in spec.features:
            statistic = feature.statistic(context)
            if statistic is not None:
                context.statistics[feature.name] = statistic
        classes = _label_classes(values[spec.label.column]) if spec.label.has_vocabulary else None
        analyzers(list(context.statistics.values()) + ([classes] if classes else []))
        for feature in spec.features:
            outputs[feature.name] = feature.apply(context)
        if classes is not None:  # the class's line in the label vocabulary, as a number like any label
            label = tf.cast(classes.indices(), tf.float32)
        else:
            label = tf.cast(values[spec.label.column], tf.float32)
        if spec.label.transform == "log":
            label = tf.math.log(tf.maximum(label, LOG_FLOOR))
        outputs[spec.label.column] = label
        return outputs

    return preprocessing_fn


def _label_classes(values: tf.Tensor) -> TokenCounts:
    """The label's vocabulary of classes on the train split, most frequent first (TFT's order)."""
    text = values if values.dtype == tf.string else tf.strings.as_string(values)
    return TokenCounts(LABEL_VOCABULARY, text=text)


def _dense(tensor, column: Column) -> tf.Tensor:
    """Optional columns arrive sparse: empty strings become '', empty numbers NaN (or the spec's constant).

    NaN means "unknown" from here on: z-scores map it to 0 (the mean) and
    quantile buckets to a bucket of its own.  Filling with statistics inside
    the transforms keeps every analyzer in TFT's first phase, where its
    result can be cached per span.
    """
    if not isinstance(tensor, tf.SparseTensor):
        return tf.cast(tensor, tf.float32) if column.type == "float" else tensor
    # One column per row even when no row of the batch has a value (a batch's sparse width is then 0).
    one_wide = tf.stack([tensor.dense_shape[0], tf.constant(1, tf.int64)])
    if column.type == "string":
        return tf.reshape(tf.sparse.to_dense(tf.SparseTensor(tensor.indices, tensor.values, one_wide),
                                             default_value=""), [-1])
    fill = float("nan") if column.missing == "mean" else float(column.missing)
    sparse = tf.SparseTensor(tensor.indices, tf.cast(tensor.values, tf.float32), one_wide)
    return tf.reshape(tf.sparse.to_dense(sparse, default_value=fill), [-1])
