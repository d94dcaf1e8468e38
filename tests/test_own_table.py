"""A table the project has never seen, described by a spec written from scratch.

Other column names, a categorical, a multivalent column, a cross and a
binary label; Parquet input.  Preprocess, train and export, then a process
that imports only TensorFlow predicts from raw rows.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_jobs import preprocess
from beam_jobs.config import PreprocessConfig
from features.spec import load_spec
from trainer import task
from trainer.config import TrainConfig

SPEC = """
name: churn
source: {format: parquet}
columns:
  account: {type: string}
  plan: {type: string}
  interests: {type: string, required: false}
  monthly_spend: {type: float, min: 0}
  tenure_months: {type: int, min: 0}
  churned: {type: int, min: 0, max: 1}
features:
  - {name: plan, source: plan, transform: vocabulary}
  - {name: interests, source: interests, transform: vocabulary, separator: ";"}
  - {name: spend, source: monthly_spend, transform: z_score, log: true}
  - {name: tenure, source: tenure_months, transform: quantile_bucketize, num_buckets: 6}
  - {name: plan_x_tenure, transform: hashed_cross, cross: [plan, tenure], hash_buckets: 64}
label: {column: churned, task: binary_classification}
split: {eval_fraction: 0.2, key: account}
model: {type: dnn, hidden_units: [32], epochs: 12, batch_size: 256, learning_rate: 0.01}
"""

LOADER = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    rows = json.loads(sys.argv[2])
    model = tf.saved_model.load(sys.argv[1])
    out = model.signatures["predict"](
        plan=tf.constant(rows["plan"]), interests=tf.constant(rows["interests"]),
        monthly_spend=tf.constant(rows["monthly_spend"], tf.float32),
        tenure_months=tf.constant(rows["tenure_months"], tf.int64))
    print(json.dumps(out["prediction"].numpy().tolist()))
""")


def make_rows(n, seed):
    """Churn is planted in the plan x tenure interaction and in one interest."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], n)
    tenure = rng.integers(0, 60, n)
    interests = [";".join(sorted(set(rng.choice(["sports", "music", "news", "games"], rng.integers(0, 3)))))
                 for _ in range(n)]
    spend = np.round(rng.lognormal(3, 0.5, n), 2)
    logit = -1.5 + 3.0 * ((plan == "basic") & (tenure < 12)) - 2.0 * ((plan == "pro") & (tenure > 24))
    logit += 1.5 * np.array(["music" in i for i in interests])
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return {"account": [f"acct-{i:05d}" for i in range(n)], "plan": plan.tolist(),
            "interests": [i or None for i in interests], "monthly_spend": spend, "tenure_months": tenure,
            "churned": churned}


@pytest.fixture(scope="module")
def churn_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn")
    (root / "data").mkdir()
    pq.write_table(pa.table(make_rows(8000, 0)), str(root / "data" / "part-0.parquet"), row_group_size=3000)
    (root / "churn.yaml").write_text(SPEC)
    spec = load_spec(str(root / "churn.yaml"))
    manifest = preprocess.run(PreprocessConfig(output=str(root / "prep"), input=str(root / "data"), spec=spec))
    result = task.train(TrainConfig(input=str(root / "prep"), job_dir=str(root / "job"), seed=0))
    return manifest, result


def test_preprocess_reads_parquet_row_groups(churn_model):
    manifest, _ = churn_model
    assert manifest["counts"]["read"] == 8000 and manifest["counts"]["rejected"]["total"] == 0
    assert manifest["features"]["plan_x_tenure"]["cardinality"] == 64
    assert manifest["features"]["interests"]["vocabulary_size"] == 4


def test_model_learns_planted_churn(churn_model):
    _, result = churn_model
    assert result.metrics["model"]["auc"] > 0.75, result.metrics
    assert result.metrics["model"]["log_loss"] < result.metrics["baseline_mean"]["log_loss"]


def test_savedmodel_predicts_raw_rows_with_tensorflow_only(churn_model):
    _, result = churn_model
    rows = {"plan": ["basic", "pro", "enterprise"], "interests": ["music;sports", "", "news"],
            "monthly_spend": [20.0, 35.5, 99.0], "tenure_months": [2, 40, 7]}
    done = subprocess.run([sys.executable, "-c", LOADER, result.version_dir, json.dumps(rows)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    probs = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(probs) == 3 and all(0.0 < p < 1.0 for p in probs)  # "enterprise" is an unseen plan
    assert probs[0] > probs[1]  # new basic customer who likes music churns more than a loyal pro
