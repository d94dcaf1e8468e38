"""What the preprocess job adds to the shared preprocessing function: Arrow input and its vocabulary counting.

The graph itself (features/graph.py) is shared with the trainer; here are
the parts only a Beam job needs: how TFT reads our Arrow batches, and the
vocabulary analyzer that counts a batch at a time (beam_jobs/vocabulary.py),
or, for the reference pipeline, TFT's own.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.tf_metadata import schema_utils
from tfx_bsl.tfxio import tensor_adapter, tensor_representation_util

from beam_jobs.vocabulary import vocabulary
from features.graph import make_preprocessing_fn, raw_columns, raw_feature_spec
from features.spec import FeatureSpec
from features.transforms import Vocabulary

_ARROW_VALUE_TYPES = {"int": pa.int64(), "float": pa.float32(), "string": pa.large_binary()}


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


def counted_vocabulary(text, feature: Vocabulary) -> tf.Tensor:
    """Ids from a vocabulary counted a batch at a time as Arrow tables: the same files as TFT's, faster."""
    threshold = feature.frequency_threshold if feature.frequency_threshold > 1 else None
    tokens = text.values if isinstance(text, tf.SparseTensor) else text
    path = vocabulary(tokens, feature.name, top_k=feature.top_k, frequency_threshold=threshold)
    return tft.apply_vocabulary(text, path, num_oov_buckets=feature.num_oov_buckets)


def guide_vocabulary(text, feature: Vocabulary) -> tf.Tensor:
    """Ids the way TFT's guide computes them (`compute_and_apply_vocabulary`): the reference pipeline's."""
    threshold = feature.frequency_threshold if feature.frequency_threshold > 1 else None
    return tft.compute_and_apply_vocabulary(
        text, top_k=feature.top_k, frequency_threshold=threshold, num_oov_buckets=feature.num_oov_buckets,
        vocab_filename=feature.name, name=feature.name)


def preprocessing_fn_for(spec: FeatureSpec, tft_vocabularies: bool = False) -> Callable[[dict], dict]:
    """The spec's preprocessing_fn with this job's vocabulary counting (`tft_vocabularies`: TFT's, for the reference)."""
    return make_preprocessing_fn(spec, guide_vocabulary if tft_vocabularies else counted_vocabulary)
