"""The preprocess job end to end on DirectRunner: outputs, accounting, reproducibility."""

import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from beam_jobs import preprocess
from beam_jobs.config import PreprocessConfig
from stage_contracts.errors import OutputError


def eval_pairs(out_dir):
    """(user_id, movie_id) index pairs of the eval split, sorted."""
    spec = tft.TFTransformOutput(out_dir).transformed_feature_spec()
    files = tf.io.gfile.glob(os.path.join(out_dir, "eval", "*.tfrecord.gz"))
    pairs = []
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(8192):
        parsed = tf.io.parse_example(batch, spec)
        pairs += list(zip(parsed["user_id"].numpy().tolist(), parsed["movie_id"].numpy().tolist()))
    return sorted(pairs)


def test_output_layout_and_manifest(preprocessed):
    out, manifest = preprocessed
    for name in ("_SUCCESS", "manifest.json", "transform_fn", "transformed_metadata", "side_table.parquet"):
        assert os.path.exists(os.path.join(out, name)), name
    assert tf.io.gfile.glob(os.path.join(out, "train", "part-*.tfrecord.gz"))
    counts = manifest["counts"]
    assert counts["read"] == 60_000
    assert counts["read"] == counts["kept"]["train"] + counts["kept"]["eval"] + counts["rejected"]["total"]
    assert 0.08 < counts["kept"]["eval"] / counts["read"] < 0.12
    features = manifest["features"]
    assert features["movie_id"]["cardinality"] == features["movie_id"]["vocabulary_size"] + 1
    assert features["user_id"]["embedding_dim"] == features["movie_id"]["embedding_dim"] == 32  # the spec widens ids
    assert features["genres"]["embedding_dim"] == 4  # the spec overrides auto
    assert manifest["versions"]["tensorflow_transform"].startswith("1.21")
    assert manifest["runner"] == "DirectRunner"
    assert 3.0 < manifest["label"]["train_mean"] < 4.5
    with open(os.path.join(out, "manifest.json")) as f:
        assert json.load(f)["counts"] == counts


def test_transformed_features_are_ids_and_buckets(preprocessed):
    out, manifest = preprocessed
    spec = tft.TFTransformOutput(out).transformed_feature_spec()
    files = tf.io.gfile.glob(os.path.join(out, "train", "*.tfrecord.gz"))
    batch = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(2000)))
    parsed = tf.io.parse_example(batch, spec)
    assert parsed["movie_id"].numpy().max() < manifest["features"]["movie_id"]["cardinality"]
    year = parsed["year"].numpy()
    assert year.min() >= 0 and year.max() <= 9 and len(np.unique(year)) >= 8
    assert isinstance(parsed["genres"], tf.SparseTensor) and parsed["genres"].values.shape[0] > 2000


def test_same_inputs_and_seed_give_identical_outputs(preprocessed, ratings_sample, movielens_spec, tmp_path):
    out, manifest = preprocessed
    again = preprocess.run(PreprocessConfig(output=str(tmp_path / "again"), input=ratings_sample, spec=movielens_spec))
    assert again["counts"] == manifest["counts"]
    assert again["features"] == manifest["features"]
    first, second = tft.TFTransformOutput(out), tft.TFTransformOutput(str(tmp_path / "again"))
    for name in ("user_id", "movie_id", "genres"):
        assert first.vocabulary_by_name(name) == second.vocabulary_by_name(name)
    assert eval_pairs(out) == eval_pairs(str(tmp_path / "again"))


def test_non_empty_output_is_refused(preprocessed, ratings_sample, movielens_spec):
    out, _ = preprocessed
    with pytest.raises(OutputError, match="not empty"):
        preprocess.run(PreprocessConfig(output=out, input=ratings_sample, spec=movielens_spec))


def test_split_emits_bounded_batches_and_loses_no_row(movielens_spec):
    """A big shard is cut into batches TFT can transform in little memory; every row lands once, counted once."""
    import pyarrow as pa

    from beam_jobs.parse import LINE_COLUMN

    rows = 1_000
    batch = pa.RecordBatch.from_pydict({
        "userId": np.arange(rows) // 10, "movieId": np.arange(rows) % 97, "rating": np.full(rows, 4.0),
        "timestamp": np.arange(rows), "title": [f"Movie {i % 97} (1999)" for i in range(rows)],
        "genres": ["Drama"] * rows, LINE_COLUMN: np.arange(2, rows + 2)})
    outputs = list(preprocess.SplitTrainEval(movielens_spec, batch_rows=64).process(("ratings.csv", batch)))
    batches = {"train": [o for o in outputs if isinstance(o, pa.RecordBatch)],
               "eval": [o.value for o in outputs if getattr(o, "tag", None) == preprocess.EVAL]}
    counts = collections.Counter()
    for name, n in (o.value for o in outputs if getattr(o, "tag", None) == preprocess.STATS):
        counts[name] += n
    assert all(b.num_rows <= 64 for split in batches.values() for b in split)
    assert len(batches["train"]) == -(-counts["kept_train"] // 64) and batches["eval"]
    assert counts["kept_train"] == sum(b.num_rows for b in batches["train"])
    assert counts["kept_train"] + counts["kept_eval"] == rows
    pairs = sorted(pair for split in batches.values() for b in split
                   for pair in zip(b.column("userId").flatten().to_pylist(), b.column("movieId").flatten().to_pylist()))
    assert pairs == sorted(zip((np.arange(rows) // 10).tolist(), (np.arange(rows) % 97).tolist()))
