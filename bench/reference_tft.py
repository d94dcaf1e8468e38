"""The reference pipeline, written the way TFT's getting-started guide shows it.

CsvTFXIO source over train.csv and eval.csv, AnalyzeAndTransformDataset on
train, TransformDataset on eval, EncodeTransformedDataset (one Beam element
per example), WriteToTFRecord.  It runs the project's preprocessing_fn with
its statistics computed as the guide does, one TFT analyzer per feature
(`tft.vocabulary`: one Beam element per token; `tft.mean`, `tft.var`,
`tft.quantiles`), so both pipelines compute the same vocabularies, buckets,
z-scores and cross; the plumbing and the analyzers differ.  Used by
bench/preprocess.py and by the equality tests.
"""

from __future__ import annotations

import os

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import schema_utils
from tfx_bsl.public import tfxio

from features.spec import FeatureSpec
from beam_jobs.transform import preprocessing_fn_for
from features.graph import raw_feature_spec


def run_reference(spec: FeatureSpec, train_csv: str, eval_csv: str, column_names: list[str], output_dir: str) -> None:
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(spec))
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=os.path.join(output_dir, "tmp")):
        sources = {}
        for name, path in (("train", train_csv), ("eval", eval_csv)):
            source = tfxio.CsvTFXIO(file_pattern=path, column_names=column_names, schema=schema,
                                    skip_header_lines=1, telemetry_descriptors=["bench"])
            sources[name] = (p | f"Read_{name}" >> source.BeamSource(), source.TensorAdapterConfig())
        (train, metadata), transform_fn = sources["train"] | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn_for(spec, guide=True))
        eval_data = (sources["eval"], transform_fn) | tft_beam.TransformDataset()
        for name, data in (("train", (train, metadata)), ("eval", eval_data)):
            _ = (data
                 | f"Encode_{name}" >> tft_beam.EncodeTransformedDataset()
                 | f"Write_{name}" >> beam.io.WriteToTFRecord(os.path.join(output_dir, name, "part"),
                                                              file_name_suffix=".tfrecord.gz"))
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    tf.io.gfile.rmtree(os.path.join(output_dir, "tmp"))
