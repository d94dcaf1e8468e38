"""`embedflow predict`: a table scored through the SavedModel by a Beam job, keys kept, bad rows set aside."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import tensorflow as tf

from beam_jobs import predict
from embedflow import cli
from stage_contracts.manifest import MANIFEST, SUCCESS


def test_predict_scores_every_good_row_like_the_savedmodel_and_counts_the_rest(trained, ratings_sample, tmp_path):
    ratings = pacsv.read_csv(os.path.join(ratings_sample, "ratings.csv")).slice(0, 500)
    table = ratings.append_column("row_id", pa.array(np.arange(500) * 7))
    good = str(tmp_path / "table.parquet")
    pq.write_table(table, good)
    bad = tmp_path / "bad.csv"  # a second file, CSV: one id that is not a number, one missing
    bad.write_text("userId,movieId,rating,timestamp,row_id\nseven,1,4.0,1,-1\n,1,4.0,1,-2\n")
    out = str(tmp_path / "out")
    assert cli.main(["predict", "--model", os.path.dirname(trained.version_dir), "--input", str(tmp_path),
                     "--output", out, "--keep", "row_id"]) == 0
    assert os.path.exists(os.path.join(out, SUCCESS))
    with open(os.path.join(out, MANIFEST)) as f:
        counts = json.load(f)["counts"]
    assert counts == {"read": 502, "scored": 500,
                      "rejected": {"total": 2, "by_reason": {"column userId": 2}}}, counts
    scored = pq.ParquetDataset([os.path.join(out, f) for f in os.listdir(out) if f.endswith(".parquet")]).read()
    assert scored.column_names == ["row_id", "userId", "movieId", "prediction"]
    assert scored.schema.field("userId").type == pa.int64()  # typed like the source, so it joins back
    scored = scored.sort_by("row_id")
    assert scored.column("row_id").to_pylist() == table.column("row_id").to_pylist()
    direct = tf.saved_model.load(trained.version_dir).signatures["predict"](
        userId=tf.constant(table.column("userId").to_numpy(), tf.int64),
        movieId=tf.constant(table.column("movieId").to_numpy(), tf.int64))["prediction"].numpy().reshape(-1)
    np.testing.assert_allclose(scored.column("prediction").to_numpy(), direct, rtol=1e-5)
    rejected = [json.loads(line) for name in os.listdir(os.path.join(out, "rejected"))
                for line in open(os.path.join(out, "rejected", name))]
    assert sorted((r["row"], r["reason"]) for r in rejected) == [(1, "column userId: not an integer"),
                                                                 (2, "column userId: missing")]


def test_predict_names_the_missing_request_column(trained, tmp_path, capsys):
    (tmp_path / "t.csv").write_text("userId,rating\n1,4.0\n")
    assert cli.main(["predict", "--model", trained.version_dir, "--input", str(tmp_path / "t.csv"),
                     "--output", str(tmp_path / "out")]) == 2
    assert "has no column(s) movieId" in capsys.readouterr().err


def test_predict_builds_a_dataflow_job(trained, ratings_sample, tmp_path):
    from test_dataflow import DATAFLOW, top_level_steps

    result = predict.run(trained.version_dir, os.path.join(ratings_sample, "ratings.csv"), str(tmp_path / "o"),
                         beam_args=DATAFLOW)
    assert {"ReadBatches", "Score", "WriteParquet", "WriteRejected"} <= top_level_steps(result["job"])
    assert not os.path.exists(tmp_path / "o")
