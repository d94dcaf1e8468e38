"""The project's Arrow fast path computes exactly what TFT's guide-style pipeline computes."""

import glob
import os
import sys

import tensorflow as tf
import tensorflow_transform as tft

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))

from preprocess import COLUMNS, write_bench_inputs  # noqa: E402  (bench/preprocess.py)
from reference_tft import run_reference  # noqa: E402

from beam_jobs import preprocess as project  # noqa: E402
from beam_jobs.spec import load_spec  # noqa: E402


def transformed_rows(out_dir: str) -> list[tuple]:
    spec = tft.TFTransformOutput(out_dir).transformed_feature_spec()
    rows = []
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(out_dir, split, "*.tfrecord.gz"))
        for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
            parsed = tf.io.parse_example(batch, spec)
            names = sorted(parsed)
            columns = [parsed[n].numpy().round(5).tolist() for n in names]
            rows += [(split, *values) for values in zip(*columns)]
    return sorted(rows)


def test_fast_path_equals_reference_pipeline(tmp_path):
    root = str(tmp_path)
    spec_path, rows = write_bench_inputs(root, ratings=6000, users=300, movies=200)
    spec = load_spec(spec_path)
    project.run(spec, os.path.join(root, "data", "ratings.csv"), os.path.join(root, "fast"), chunk_bytes=20_000)
    run_reference(spec, os.path.join(root, "train.csv"), os.path.join(root, "eval.csv"), COLUMNS,
                  os.path.join(root, "reference"))
    fast, reference = (tft.TFTransformOutput(os.path.join(root, d)) for d in ("fast", "reference"))
    for vocabulary in ("user_id", "movie_id"):
        assert fast.vocabulary_by_name(vocabulary) == reference.vocabulary_by_name(vocabulary)
    ours, theirs = transformed_rows(os.path.join(root, "fast")), transformed_rows(os.path.join(root, "reference"))
    assert len(ours) == rows
    assert ours == theirs
