"""What the preprocess job adds to the shared preprocessing function: Arrow input and packed analyzers.

The graph itself (features/graph.py) is shared with the trainer; here are
the parts only a Beam job needs: how TFT reads our Arrow batches, and how
the features' statistics are computed.  The job packs them: every
vocabulary in one analyzer that counts a batch at a time
(beam_jobs/vocabulary.py), every z-score's mean and variance in one
per-column combiner; the reference pipeline runs one TFT analyzer per
feature, as TFT's guide writes it.  Each analyzer is a chain of Beam steps
and TensorFlow ops of its own, so on a spec with 100 features the packing
is the difference between a job graph that grows with the spec and one
that does not.
"""

from __future__ import annotations

from typing import Callable, Type

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.tf_metadata import schema_utils
from tfx_bsl.tfxio import tensor_adapter, tensor_representation_util

from features.split import row_keys
from beam_jobs.vocabulary import vocabularies
from stage_contracts.manifest import ROW_KEY
from features.graph import make_preprocessing_fn, raw_columns, raw_feature_spec
from features.spec import FeatureSpec
from features.analyzers import Moments, Statistic, TokenCounts

_ARROW_VALUE_TYPES = {"int": pa.int64(), "float": pa.float32(), "string": pa.large_binary()}


def tensor_adapter_config(spec: FeatureSpec) -> tensor_adapter.TensorAdapterConfig:
    """How TFT reads our Arrow batches: one list column per raw feature, and the row key that TFT passes through
    (a passthrough key of the job's tft_beam.Context: no tensor, so the preprocessing_fn never sees it)."""
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(spec))
    arrow_schema = pa.schema([(c.name, pa.list_(_ARROW_VALUE_TYPES[c.type])) for c in raw_columns(spec)]
                             + [(ROW_KEY, pa.list_(pa.int64()))])
    return tensor_adapter.TensorAdapterConfig(
        arrow_schema, tensor_representation_util.InferTensorRepresentationsFromSchema(schema))


def to_tfxio_batch(batch: pa.RecordBatch, spec: FeatureSpec) -> pa.RecordBatch:
    """Wrap each column of a typed batch as a list column (a null becomes an empty list), and add its row key.

    The row key (features/split.py `row_keys` of the raw columns) is what the
    trainer draws its validation slice by: the transformed records cannot serve,
    because z-scores from TFT's combiners differ in their last bits between
    runs of the same data (and equal records serialize in another field order),
    and a key of them moved rows between the slices.

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
    keys = row_keys(batch, tuple(names))
    arrays.append(pa.ListArray.from_arrays(pa.array(np.arange(len(keys) + 1, dtype=np.int32)), pa.array(keys)))
    return pa.RecordBatch.from_arrays(arrays, names=names + [ROW_KEY])


def packed_moments(requests: list[Moments]) -> None:
    """Mean and variance of every request's known values from one combiner: the columns of one sparse matrix.

    The numbers are stacked as columns and their unknown (non-finite)
    entries left out, so TFT's per-column statistics of a SparseTensor count
    each column's known values only, as `Moments.compute` does for one.
    """
    if not requests:
        return
    with tf.name_scope("moments"):
        columns = tf.stack([tf.reshape(r.values, [-1]) for r in requests], axis=1)
        known = tf.math.is_finite(columns)
        known_entries = tf.SparseTensor(tf.where(known), tf.boolean_mask(columns, known),
                                        tf.shape(columns, out_type=tf.int64))
        means = tft.mean(known_entries, reduce_instance_dims=False, name="mean")
        variances = tft.var(known_entries, reduce_instance_dims=False, name="var")
    for index, request in enumerate(requests):
        request.result = means[index], variances[index]


PACKED: dict[Type[Statistic], Callable[[list], None]] = {TokenCounts: vocabularies, Moments: packed_moments}


def packed_analyzers(requests: list[Statistic]) -> None:
    """The preprocess job's analyzers: one per kind of statistic that packs, one each for the rest."""
    for kind, compute in PACKED.items():
        compute([r for r in requests if type(r) is kind])
    for request in requests:
        if type(request) not in PACKED:
            request.result = request.compute()


def guide_analyzers(requests: list[Statistic]) -> None:
    """One TFT analyzer per feature, as TFT's guide writes it: the reference pipeline's."""
    for request in requests:
        request.result = request.compute()


def preprocessing_fn_for(spec: FeatureSpec, guide: bool = False) -> Callable[[dict], dict]:
    """The spec's preprocessing_fn with this job's packed analyzers (`guide`: TFT's, for the reference)."""
    return make_preprocessing_fn(spec, guide_analyzers if guide else packed_analyzers)
