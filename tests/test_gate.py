"""The promotion gate as data (retraining/gate.py): defaults per task, validation, and judging, table-driven."""

import math

import pytest

from retraining.gate import GateMetric, default_gate, judge, parse_gate, task_of
from stage_contracts.errors import UserError


@pytest.mark.parametrize("model_type, label_task, metrics", [
    ("two_tower", "regression", ["recall@10", "ndcg@10", "rmse"]),
    ("two_tower", "binary_classification", ["recall@10", "ndcg@10", "log_loss"]),
    ("dnn", "regression", ["rmse"]),
    ("dnn", "binary_classification", ["log_loss", "auc"]),
    ("dnn_and_trees", "multiclass_classification", ["log_loss", "accuracy"]),
])
def test_default_gate_per_task(model_type, label_task, metrics):
    from features.model_types import TYPES

    binary = label_task == "binary_classification"
    gate = default_gate(task_of(TYPES.get(model_type).ranks_items, label_task), 0.03, binary)
    assert [m.metric for m in gate] == metrics
    assert all(m.change_tolerance == 0.03 and m.threshold is None for m in gate)
    assert {m.metric: m.higher_is_better for m in gate} == {
        name: name in ("recall@10", "ndcg@10", "auc", "accuracy") for name in metrics}


RECALL = GateMetric("recall@10", True, None, 0.05)
RMSE = GateMetric("rmse", False, None, 0.02)
FLOOR = GateMetric("recall@10", True, 0.10, None)


@pytest.mark.parametrize("gate, candidate, serving, promote, decided_by, phrase", [
    # higher is better: within 5% of serving passes, beyond fails
    ((RECALL,), {"recall@10": 0.192}, {"recall@10": 0.20}, True, "recall@10", "within"),
    ((RECALL,), {"recall@10": 0.188}, {"recall@10": 0.20}, False, "recall@10", "beyond"),
    # lower is better
    ((RMSE,), {"rmse": 1.019}, {"rmse": 1.0}, True, "rmse", "within"),
    ((RMSE,), {"rmse": 1.03}, {"rmse": 1.0}, False, "rmse", "beyond"),
    # the first failing metric decides, even when the first listed passes
    ((RECALL, RMSE), {"recall@10": 0.3, "rmse": 1.5}, {"recall@10": 0.2, "rmse": 1.0}, False, "rmse", "beyond"),
    # lists got worse while RMSE held: refused (issue 26's case)
    ((RECALL, RMSE), {"recall@10": 0.1, "rmse": 0.99}, {"recall@10": 0.2, "rmse": 1.0}, False, "recall@10",
     "beyond"),
    # every metric passes: the first decides
    ((RECALL, RMSE), {"recall@10": 0.2, "rmse": 1.0}, {"recall@10": 0.2, "rmse": 1.0}, True, "recall@10", "within"),
    # nothing serves: only value thresholds count
    ((RECALL, RMSE), {"recall@10": 0.01, "rmse": 9.0}, None, True, "recall@10", "nothing to compare"),
    ((FLOOR,), {"recall@10": 0.05}, None, False, "recall@10", "threshold"),
    ((FLOOR,), {"recall@10": 0.05}, {"recall@10": 0.01}, False, "recall@10", "threshold"),
    ((FLOOR,), {"recall@10": 0.15}, {"recall@10": 0.50}, True, "recall@10", "candidate 0.1500"),
    # a metric the candidate lacks, or NaN, fails
    ((RMSE,), {}, {"rmse": 1.0}, False, "rmse", "no value"),
    ((RMSE,), {"rmse": math.nan}, {"rmse": 1.0}, False, "rmse", "no value"),
])
def test_judge(gate, candidate, serving, promote, decided_by, phrase):
    decision = judge(candidate, serving, gate)
    assert (decision.promote, decision.decided_by) == (promote, decided_by)
    assert phrase in decision.reason
    assert [c["metric"] for c in decision.checks] == [m.metric for m in gate]  # every metric is reported


def test_parse_gate_reads_directions_thresholds_and_the_default_tolerance():
    gate = parse_gate(["rmse", {"metric": "recall@10", "threshold": 0.1, "change_tolerance": 0.05},
                       {"metric": "auc", "direction": "lower"}], "cfg", tolerance=0.02)
    assert gate == (GateMetric("rmse", False, None, 0.02), GateMetric("recall@10", True, 0.1, 0.05),
                    GateMetric("auc", False, None, 0.02))


@pytest.mark.parametrize("raw, task, message", [
    ([{"metric": "precision"}], None, "unknown metric 'precision'"),
    ([{"metric": "rmse", "direction": "down"}], None, "direction 'down' is not one of higher, lower"),
    ([{"metric": "rmse", "threshold": -1}], None, "threshold must not be negative"),
    ([{"metric": "rmse", "change_tolerance": -0.1}], None, "change_tolerance must not be negative"),
    ([{"metric": "rmse", "change_tolerance": "2%"}], None, "change_tolerance must be a number"),
    ([{"metric": "rmse", "tolerance": 0.1}], None, "unknown key(s) tolerance"),
    ([{"metric": "rmse"}, "rmse"], None, "listed twice"),
    ([], None, "non-empty list"),
    ({"metric": "rmse"}, None, "non-empty list"),
    ([3], None, "gate[0] must be a mapping"),
    ([{"metric": "recall@10"}], "regression", "needs a two_tower model"),
    ([{"metric": "auc"}], "multiclass", "not scored on auc"),
    ([{"metric": "auc"}], "regression", "not scored on auc"),
])
def test_parse_gate_refuses_with_a_clear_message(raw, task, message):
    with pytest.raises(UserError) as err:
        parse_gate(raw, "Retrain config r.yaml", 0.02, task)
    assert message in str(err.value) and "Retrain config r.yaml" in str(err.value)
