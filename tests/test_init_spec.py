"""`embedflow init-spec` drafts a spec that validates, describes and runs, from tables of every shape."""

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from beam_jobs import preprocess
from beam_jobs.config import PreprocessConfig
from embedflow.sample_csv import write_csv
from embedflow.cli import main
from embedflow.describe_spec import describe
from embedflow.init_spec import InitSpecConfig, init_spec
from features.spec import load_spec
from trainer import task
from trainer.config import TrainConfig


def mixed_table(n: int, seed: int = 0) -> pa.Table:
    """Text, a multivalent list, numbers with gaps, skewed areas (one distinct in every row, one named with a
    space), lat/lon, an id and a 0/1 label."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro", "rare-plan"], n, p=[0.5, 0.3, 0.199, 0.001])
    tags = ["|".join(sorted(set(rng.choice(["music", "news", "sports", "games"], rng.integers(1, 3)))))
            for _ in range(n)]
    tenure = rng.integers(0, 60, n).astype(float)
    area = np.round(rng.lognormal(6, 0.8, n))
    lat, lon = rng.uniform(40.0, 41.0, n), rng.uniform(-74.5, -73.5, n)
    logit = -0.5 + 1.5 * (plan == "basic") * (tenure < 12) + 0.8 * np.array(["music" in t for t in tags])
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table({
        "account": [f"acct-{i:05d}" for i in range(n)], "plan": plan.tolist(), "tags": tags,
        "tenure_months": pa.array(tenure, mask=rng.random(n) < 0.1), "Floor Area": area,
        "lot_sqft": rng.choice(np.arange(1_000, 200_000), n, replace=False),
        "latitude": lat.round(5), "longitude": lon.round(5), "churned": churned})


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("mixed") / "accounts.csv")
    write_csv(mixed_table(600), path)
    return path


def test_draft_of_every_shape(mixed_csv, tmp_path):
    out = init_spec(InitSpecConfig(input=mixed_csv, output=str(tmp_path / "spec.yaml")))
    spec = load_spec(out)
    features = {f.source or f.name: f for f in spec.features}
    assert "account" not in features and spec.split.key == ("account",)  # id-like: keys the split, not a feature
    assert features["plan"].kind == "vocabulary" and features["plan"].frequency_threshold >= 2
    assert features["tags"].separator == "|"
    assert spec.column("tenure_months").missing == "mean" and not spec.column("tenure_months").required
    assert features["Floor Area"].log and features["Floor Area"].piecewise_linear > 1
    assert "lot_sqft" in features  # distinct in every row, but a measurement, not an id
    assert features["location"].cross == ("latitude_bucket", "longitude_bucket")
    assert spec.column("latitude").max == 90 and spec.column("longitude").min == -180
    assert spec.label.column == "churned" and spec.label.is_binary  # guessed by name, 0/1 values
    assert "Label: churned (binary_classification)" in describe(spec)
    assert spec.model.type == "dnn_and_trees" and spec.model.trees.searched  # train chooses among them
    with open(out, encoding="utf-8") as f:
        assert sum("#" in line for line in f) >= len(spec.features)  # every choice explained


def test_parquet_price_label_is_log_regression(tmp_path):
    rng = np.random.default_rng(1)
    price = np.round(np.exp(rng.normal(12, 0.5, 300)))
    pq.write_table(pa.table({"rooms": rng.integers(1, 8, 300), "town": rng.choice(["a", "b", "c"], 300),
                             "price": price, "note": ["x"] * 300}), str(tmp_path / "sales.parquet"))
    spec = load_spec(init_spec(InitSpecConfig(input=str(tmp_path), output=str(tmp_path / "spec.yaml"))))
    assert spec.source.format == "parquet"
    assert (spec.label.column, spec.label.task, spec.label.transform) == ("price", "regression", "log")
    assert {f.source for f in spec.features} == {"rooms", "town"}  # "note" is constant: left out


def test_drafted_spec_preprocesses_trains_and_serves_raw_rows(mixed_csv, tmp_path):
    out = init_spec(InitSpecConfig(input=mixed_csv, output=str(tmp_path / "spec.yaml")))
    text = open(out, encoding="utf-8").read().replace("ensemble: 4", "ensemble: 2")
    open(out, "w", encoding="utf-8").write(text)
    spec = load_spec(out)
    prep = str(tmp_path / "prep")
    manifest = preprocess.run(PreprocessConfig(output=prep, input=mixed_csv, spec=spec))
    assert manifest["counts"]["rejected"]["total"] == 0
    result = task.train(TrainConfig(input=prep, job_dir=str(tmp_path / "job"), epochs=2, seed=1))
    assert 0.0 <= result.metrics["model"]["auc"] <= 1.0
    model = tf.saved_model.load(result.version_dir)
    prediction = model.signatures["predict"](
        plan=tf.constant(["basic", "unseen"]), tags=tf.constant(["music|news", ""]),
        tenure_months=tf.constant([3, 40], tf.int64), Floor_Area=tf.constant([400, 900], tf.int64),
        lot_sqft=tf.constant([5000, 90_000], tf.int64),
        latitude=tf.constant([40.5, 40.1]), longitude=tf.constant([-74.0, -73.9]))["prediction"].numpy()
    assert prediction.shape == (2,) and np.all((prediction > 0) & (prediction < 1))


def _cli_error(argv, capsys) -> str:
    assert main(argv) == 2
    message = capsys.readouterr().err
    assert message.startswith("error: ") and "Traceback" not in message
    return message


def test_malformed_tables_are_one_paragraph_errors(mixed_csv, tmp_path, capsys):
    out = str(tmp_path / "spec.yaml")
    assert "no such file" in _cli_error(["init-spec", "--input", str(tmp_path / "nope.csv"), "--output", out], capsys)
    (tmp_path / "header.csv").write_text("a,b,price\n")
    assert "has no rows" in _cli_error(["init-spec", "--input", str(tmp_path / "header.csv"), "--output", out], capsys)
    assert "no such column" in _cli_error(["init-spec", "--input", mixed_csv, "--label", "churn", "--output", out],
                                          capsys)
    assert "fewer than" in _cli_error(["init-spec", "--input", mixed_csv, "--label", "plan", "--output", out], capsys)
    (tmp_path / "binary.csv").write_bytes(b"\x00\x01\xff\xfe" * 100)
    _cli_error(["init-spec", "--input", str(tmp_path / "binary.csv"), "--output", out], capsys)
    assert not os.path.exists(out)
    open(out, "w").write("mine")
    assert "--overwrite" in _cli_error(["init-spec", "--input", mixed_csv, "--output", out], capsys)
    assert open(out).read() == "mine"
