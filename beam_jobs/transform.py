"""The TF-Transform side of a spec: raw schema, Arrow input, and the preprocessing_fn.

Everything that must also happen at serving time lives here, inside the
transform graph: derived values (the year in a title, ratios), splitting of
multivalent strings, vocabularies, buckets, z-scores and hashed crosses.
The exported model replays exactly this graph on raw requests.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.tf_metadata import schema_utils
from tfx_bsl.tfxio import tensor_adapter, tensor_representation_util

from beam_jobs.spec import Column, Derived, Feature, FeatureSpec
from beam_jobs.vocabulary import vocabulary

TF_TYPES = {"int": tf.int64, "float": tf.float32, "string": tf.string}
_ARROW_VALUE_TYPES = {"int": pa.int64(), "float": pa.float32(), "string": pa.large_binary()}
CROSS_SEPARATOR = "_x_"


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


def tensor_adapter_config(spec: FeatureSpec) -> tensor_adapter.TensorAdapterConfig:
    """How TFT reads our Arrow batches: one list column per raw feature."""
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(spec))
    arrow_schema = pa.schema([(c.name, pa.list_(_ARROW_VALUE_TYPES[c.type])) for c in raw_columns(spec)])
    return tensor_adapter.TensorAdapterConfig(
        arrow_schema, tensor_representation_util.InferTensorRepresentationsFromSchema(schema))


def to_tfxio_batch(batch: pa.RecordBatch, spec: FeatureSpec) -> pa.RecordBatch:
    """Wrap each column of a typed batch as a list column; a null becomes an empty list.

    Lists with 32-bit offsets (a chunk holds far fewer than 2**31 values):
    the train split is held whole between analysis and transform, and 64-bit
    offsets made it about 1 GiB larger at 20M rows.
    """
    arrays, names = [], []
    for column in raw_columns(spec):
        values = batch.column(column.name).cast(_ARROW_VALUE_TYPES[column.type])
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        offsets = np.zeros(len(values) + 1, dtype=np.int32)
        np.cumsum(valid, out=offsets[1:])
        arrays.append(pa.ListArray.from_arrays(pa.array(offsets), values.drop_null()))
        names.append(column.name)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def make_preprocessing_fn(spec: FeatureSpec, tft_vocabularies: bool = False) -> Callable[[dict], dict]:
    """Build the TFT preprocessing_fn that a spec describes.

    Vocabularies are counted a batch at a time as Arrow tables
    (beam_jobs/vocabulary.py): the same files as TFT's, in a fraction of the
    time.  `tft_vocabularies=True` counts them with the plain
    `compute_and_apply_vocabulary` of TFT's guide instead (the benchmark's
    reference, and the equality test's).
    """

    @tf.autograph.experimental.do_not_convert  # straight-line graph code: skip autograph's rewrite on each trace
    def preprocessing_fn(inputs: dict) -> dict:
        values = {c.name: _dense(inputs[c.name], c) for c in raw_columns(spec)}
        needed = spec.needed_values()
        for derived in spec.derived:
            if derived.name in needed:
                values[derived.name] = _derive(derived, values)
        outputs: dict = {}
        for feature in spec.features:
            outputs[feature.name] = _apply(feature, values, outputs, tft_vocabularies)
        label = tf.cast(values[spec.label.column], tf.float32)
        if spec.label.transform == "log":
            label = tf.math.log(tf.maximum(label, 1e-6))
        outputs[spec.label.column] = label
        return outputs

    return preprocessing_fn


def _dense(tensor, column: Column) -> tf.Tensor:
    """Optional columns arrive sparse: empty strings become '', empty numbers NaN (or the spec's constant).

    NaN means "unknown" from here on: z-scores map it to 0 (the mean) and
    quantile buckets to a bucket of its own.  Filling with statistics inside
    the transforms keeps every analyzer in TFT's first phase, where its
    result can be cached per span.
    """
    if not isinstance(tensor, tf.SparseTensor):
        return tf.cast(tensor, tf.float32) if column.type == "float" else tensor
    if column.type == "string":
        return tf.reshape(tf.sparse.to_dense(tensor, default_value=""), [-1])
    fill = float("nan") if column.missing == "mean" else float(column.missing)
    sparse = tf.SparseTensor(tensor.indices, tf.cast(tensor.values, tf.float32), tensor.dense_shape)
    return tf.reshape(tf.sparse.to_dense(sparse, default_value=fill), [-1])


def _unknown_as_nan(x: tf.Tensor) -> tf.Tensor:
    return tf.where(tf.math.is_finite(x), x, float("nan"))


def _derive(derived: Derived, values: dict) -> tf.Tensor:
    """A derived number; NaN where it cannot be computed (no year in a title, a ratio over zero)."""
    if derived.kind == "regex_extract":
        text = values[derived.inputs[0]]
        pattern = f".*?{derived.pattern}.*"
        matched = tf.strings.regex_full_match(text, pattern)
        captured = tf.strings.regex_replace(text, pattern, r"\1")
        return _unknown_as_nan(tf.strings.to_number(tf.where(matched, captured, "nan"), tf.float32))
    numerator, denominator = (tf.cast(values[name], tf.float32) for name in derived.inputs)
    return _unknown_as_nan(numerator / denominator)


def _apply(feature: Feature, values: dict, outputs: dict, tft_vocabularies: bool):
    if feature.transform == "hashed_cross":
        parts = [tf.strings.as_string(outputs[name]) for name in feature.cross]
        return tf.strings.to_hash_bucket_fast(tf.strings.join(parts, CROSS_SEPARATOR), feature.hash_buckets)
    x = values[feature.source]
    if feature.transform == "vocabulary":
        text = x if x.dtype == tf.string else tf.strings.as_string(x)
        if feature.is_multivalent:
            text = tf.strings.split(text, feature.separator).to_sparse()
        threshold = feature.frequency_threshold if feature.frequency_threshold > 1 else None
        if tft_vocabularies:
            return tft.compute_and_apply_vocabulary(
                text, top_k=feature.top_k, frequency_threshold=threshold, num_oov_buckets=feature.num_oov_buckets,
                vocab_filename=feature.name, name=feature.name)
        tokens = text.values if isinstance(text, tf.SparseTensor) else text
        path = vocabulary(tokens, feature.name, top_k=feature.top_k, frequency_threshold=threshold)
        return tft.apply_vocabulary(text, path, num_oov_buckets=feature.num_oov_buckets)
    x = tf.cast(x, tf.float32)
    if feature.log:
        x = tf.math.log1p(tf.maximum(x, 0.0))
    known = tf.math.is_finite(x)
    observed = tf.boolean_mask(x, known)
    safe = tf.where(known, x, 0.0)
    if feature.transform == "quantile_bucketize":
        # Unknown values get bucket `num_buckets`, after the quantile buckets.
        boundaries = tft.quantiles(observed, feature.num_buckets, epsilon=1.0 / (100 * feature.num_buckets),
                                   name=feature.name)
        return tf.where(known, tft.apply_buckets(safe, boundaries), tf.constant(feature.num_buckets, tf.int64))
    with tf.name_scope(feature.name):
        mean = tft.mean(observed, name="mean")
        std = tf.sqrt(tft.var(observed, name="var"))
    return tf.where(known, tf.math.divide_no_nan(safe - mean, std), 0.0)
