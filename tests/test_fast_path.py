"""The project's Arrow fast path (packed analyzers) computes exactly what TFT's guide-style pipeline computes."""

import glob
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))

from preprocess import COLUMNS, write_bench_inputs  # noqa: E402  (bench/preprocess.py)
from reference_tft import run_reference  # noqa: E402
from wide_table import write_wide_inputs  # noqa: E402

from beam_jobs import preprocess as project  # noqa: E402
from beam_jobs.config import PreprocessConfig  # noqa: E402
from stage_contracts import manifest as mf  # noqa: E402
from features.spec import load_spec  # noqa: E402


def transformed_rows(out_dir: str) -> tuple[list[tuple], np.ndarray]:
    """Every transformed example, sorted: its split and integer columns (ids, buckets), and its float columns."""
    spec = tft.TFTransformOutput(out_dir).transformed_feature_spec()
    names = sorted(spec)
    rows = []
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(out_dir, split, "*.tfrecord.gz"))
        for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
            parsed = tf.io.parse_example(batch, spec)
            rows += [(split, *values) for values in zip(*(parsed[n].numpy().tolist() for n in names))]
    floats = [i + 1 for i, n in enumerate(names) if spec[n].dtype == tf.float32]

    def exact_part(row: tuple) -> tuple:
        return tuple(v for i, v in enumerate(row) if i not in floats)

    # Sort on the exact columns first: float32 sums taken over other batchings may round a z-score across
    # any rounding boundary, so floats only order rows whose ids and buckets are all equal.
    rows.sort(key=lambda row: (exact_part(row), tuple(row[i] for i in floats)))
    return [exact_part(row) for row in rows], np.array([[row[i] for i in floats] for row in rows])


def assert_same_output(root: str, spec_path: str, table: str, columns: list[str], rows: int) -> None:
    """Run both pipelines on `table` (the reference on its train.csv / eval.csv split) and compare what they wrote."""
    spec = load_spec(spec_path)
    project.run(PreprocessConfig(output=os.path.join(root, "fast"), input=table, spec=spec, chunk_bytes=20_000))
    run_reference(spec, os.path.join(root, "train.csv"), os.path.join(root, "eval.csv"), columns,
                  os.path.join(root, "reference"))
    fast, reference = (tft.TFTransformOutput(os.path.join(root, d)) for d in ("fast", "reference"))
    vocabularies = [f.name for f in spec.features if f.is_lookup]
    assert vocabularies
    for vocabulary in vocabularies:  # byte for byte: the files as TFT's own analyzer writes them
        assert fast.vocabulary_by_name(vocabulary) == reference.vocabulary_by_name(vocabulary), vocabulary
    (ours, our_floats), (theirs, their_floats) = (transformed_rows(os.path.join(root, d)) for d in ("fast", "reference"))
    assert len(ours) == rows
    assert ours == theirs  # ids and buckets exactly
    # labels and z-scores: equal up to float32 sums taken over other batchings
    np.testing.assert_allclose(our_floats, their_floats, rtol=1e-4, atol=1e-5)


def test_fast_path_equals_reference_pipeline(tmp_path):
    root = str(tmp_path)
    spec_path, rows = write_bench_inputs(root, ratings=6000, users=300, movies=200)
    assert_same_output(root, spec_path, os.path.join(root, "data", "ratings.csv"), COLUMNS, rows)


@pytest.mark.slow  # two preprocess jobs, the reference with one TFT analyzer for each of 20 features
def test_wide_spec_with_packed_analyzers_equals_one_tft_analyzer_per_feature(tmp_path):
    """20 features (9 vocabularies, 8 z-scores, one with unknowns, 2 quantile buckets, a cross), 300 rows."""
    root = str(tmp_path)
    spec_path, table, columns = write_wide_inputs(root, features=20, rows=300)
    assert_same_output(root, spec_path, table, columns, rows=300)


def test_batch_sink_writes_every_row_in_order_across_slices_and_bundles(tmp_path, monkeypatch):
    import apache_beam as beam
    import numpy as np
    import pyarrow as pa
    from tensorflow_transform.tf_metadata import schema_utils

    from beam_jobs import tfrecord_io

    monkeypatch.setattr(tfrecord_io, "SLICE_ROWS", 64)  # 1,000-row batches: 16 slices, several in flight
    schema = schema_utils.schema_from_feature_spec({"id": tf.io.FixedLenFeature([], tf.int64),
                                                    "score": tf.io.FixedLenFeature([], tf.float32)})

    def batch(start: int, rows: int) -> tuple[pa.RecordBatch, dict]:
        """A transformed batch and TFT's passthrough of it: the row keys (here 3 x id)."""
        offsets = pa.array(np.arange(rows + 1, dtype=np.int64))
        ids = pa.LargeListArray.from_arrays(offsets, pa.array(np.arange(start, start + rows, dtype=np.int64)))
        scores = pa.LargeListArray.from_arrays(offsets, pa.array(np.arange(start, start + rows, dtype=np.float32) / 2))
        keys = pa.ListArray.from_arrays(offsets.cast(pa.int32()), pa.array(np.arange(start, start + rows) * 3))
        return pa.RecordBatch.from_arrays([ids, scores], names=["id", "score"]), {mf.ROW_KEY: keys}

    with beam.Pipeline() as p:
        _ = (p | beam.Create([batch(0, 1000), batch(1000, 1000), batch(2000, 7)])
             | tfrecord_io.WriteTFRecordBatches(str(tmp_path / "part"), schema))
    files = sorted(glob.glob(str(tmp_path / "part-*.tfrecord.gz")))
    assert files
    spec = {**schema_utils.schema_as_feature_spec(schema).feature_spec,
            mf.ROW_KEY: tf.io.FixedLenFeature([], tf.int64)}  # the passthrough goes into each record too
    chunks = []
    for path in files:  # within a shard, each batch's rows stay in order
        for records in tf.data.TFRecordDataset(path, compression_type="GZIP").batch(10_000):
            chunks.append(tf.io.parse_example(records, spec))
    ids = np.concatenate([c["id"].numpy() for c in chunks])
    scores = np.concatenate([c["score"].numpy() for c in chunks])
    np.testing.assert_array_equal(np.sort(ids), np.arange(2007))
    np.testing.assert_allclose(scores, ids / 2)
    np.testing.assert_array_equal(np.concatenate([c[mf.ROW_KEY].numpy() for c in chunks]), ids * 3)
    for start, rows in ((0, 1000), (1000, 1000)):
        where = np.flatnonzero(ids == start)[0]
        np.testing.assert_array_equal(ids[where:where + rows], np.arange(start, start + rows))
