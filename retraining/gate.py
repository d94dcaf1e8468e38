"""The promotion gate as data, the way TFX's Evaluator states it: metrics, directions and thresholds.

A gate is a list of `GateMetric`s.  Each names a metric of the scores both
models get on the same eval rows (`retraining/retrain.py`), whether higher
or lower is better, an optional value threshold the candidate must reach on
its own, and a change threshold against the serving model: the relative
tolerance by which the candidate may be worse (0.02: at most 2% worse).
`judge` checks every metric and says which one decided; code reads the gate,
never hard-codes which metric decides.

Defaults per task (`default_gate`): a two-tower model is judged on what its
users see, recall@10 and NDCG@10 on held-out positives, and on its rating
(RMSE); a regression on RMSE; a classification on log-loss and AUC; a
multiclass classification on log-loss and accuracy.
A retrain config overrides them with a `gate:` list:

    gate:
      - {metric: recall@10, direction: higher, change_tolerance: 0.05, threshold: 0.05}
      - {metric: rmse, direction: lower}
"""

from __future__ import annotations

import dataclasses
import math

from stage_contracts.errors import UserError

# Every metric a gate may name, with its natural direction (True: higher is better).
METRICS = {"recall@10": True, "ndcg@10": True, "rmse": False, "mae": False, "log_loss": False, "auc": True,
           "accuracy": True}
RANKING_METRICS = ("recall@10", "ndcg@10")
TASK_METRICS = {"classification": ("log_loss", "auc", "accuracy"), "multiclass": ("log_loss", "accuracy"),
                "regression": ("rmse", "mae")}  # what `retrain` scores each task's models on
DIRECTIONS = {"higher": True, "lower": False}
_KEYS = ("metric", "direction", "threshold", "change_tolerance")


@dataclasses.dataclass(frozen=True)
class GateMetric:
    """One metric of the gate.

    `threshold`: the candidate's value must be at least (higher is better) or at most (lower) this, whatever
    serves; None: no such bound.  `change_tolerance`: relative; the candidate may be worse than the serving
    model by at most this fraction of the serving value (None: not compared with serving).
    """

    metric: str
    higher_is_better: bool
    threshold: float | None = None
    change_tolerance: float | None = 0.02

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"


@dataclasses.dataclass(frozen=True)
class Decision:
    """What `judge` found: promote or not, the metric that decided, and every metric's check."""

    promote: bool
    decided_by: str
    reason: str
    checks: tuple[dict, ...]


def task_of(ranks_items: bool, label_task: str) -> str:
    """"ranking" (a model type whose lists users see: ModelType.ranks_items), "classification" (two classes),
    "multiclass" or "regression" (the spec's label task otherwise): what picks the default gate."""
    if ranks_items:
        return "ranking"
    return {"binary_classification": "classification", "multiclass_classification": "multiclass"}.get(label_task,
                                                                                                       "regression")


def default_gate(task: str, tolerance: float = 0.02, binary_label: bool = False) -> tuple[GateMetric, ...]:
    """The gate of a task, each metric with the same relative `tolerance` against serving."""
    if task == "ranking":
        names = RANKING_METRICS + (("log_loss",) if binary_label else ("rmse",))
    elif task == "classification":
        names = ("log_loss", "auc")
    elif task == "multiclass":
        names = ("log_loss", "accuracy")
    elif task == "regression":
        names = ("rmse",)
    else:
        raise ValueError(f"unknown task {task!r}")
    return tuple(GateMetric(name, METRICS[name], None, tolerance) for name in names)


def parse_gate(raw, where: str, tolerance: float = 0.02, task: str | None = None) -> tuple[GateMetric, ...]:
    """A `gate:` list of a config, validated; every problem a UserError naming `where` and the entry."""
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{where}: gate must be a non-empty list of metrics, e.g. "
                        f"[{{metric: rmse, direction: lower, change_tolerance: 0.02}}]; got {raw!r}.")
    gate = []
    for i, entry in enumerate(raw):
        at = f"{where}: gate[{i}]"
        if isinstance(entry, str):
            entry = {"metric": entry}
        if not isinstance(entry, dict):
            raise UserError(f"{at} must be a mapping with keys {', '.join(_KEYS)}; got {entry!r}.")
        unknown = sorted(set(entry) - set(_KEYS))
        if unknown:
            raise UserError(f"{at}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(_KEYS)}.")
        name = entry.get("metric")
        if name not in METRICS:
            raise UserError(f"{at}: unknown metric {name!r}; known: {', '.join(METRICS)}.")
        if task is not None and task != "ranking" and name in RANKING_METRICS:
            raise UserError(f"{at}: {name} needs a two_tower model, one that ranks items (this spec's task is "
                            f"{task}).")
        if task is not None and name not in TASK_METRICS.get(task, METRICS):
            raise UserError(f"{at}: a {task} model is not scored on {name}; it is scored on "
                            f"{', '.join(TASK_METRICS[task])}.")
        direction = entry.get("direction", "higher" if METRICS[name] else "lower")
        if direction not in DIRECTIONS:
            raise UserError(f"{at}: direction {direction!r} is not one of {', '.join(DIRECTIONS)}.")
        threshold = _number(entry.get("threshold"), f"{at}: threshold")
        change = _number(entry.get("change_tolerance", tolerance), f"{at}: change_tolerance")
        if name in {m.metric for m in gate}:
            raise UserError(f"{at}: metric {name} is listed twice.")
        gate.append(GateMetric(name, DIRECTIONS[direction], threshold, change))
    return tuple(gate)


def _number(value, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where} must be a number; got {value!r}.")
    if value < 0:
        raise UserError(f"{where} must not be negative; got {value!r}.")
    return float(value)


def judge(candidate: dict, serving: dict | None, gate: tuple[GateMetric, ...] | list[GateMetric]) -> Decision:
    """Check every metric of `gate`; the first that fails decides (refused), else the first metric (promoted).

    `candidate` and `serving` map metric names to values scored on the same rows; `serving` None (nothing
    serves yet) skips the change thresholds.  A metric the candidate lacks or that is NaN fails.
    """
    checks = []
    for m in gate:
        value = candidate.get(m.metric)
        base = None if serving is None else serving.get(m.metric)
        check = {"metric": m.metric, "direction": m.direction, "candidate": value, "serving": base,
                 "threshold": m.threshold, "change_tolerance": m.change_tolerance}
        check["passed"], check["why"] = _check(m, value, base)
        checks.append(check)
    failed = [c for c in checks if not c["passed"]]
    deciding = failed[0] if failed else checks[0]
    others = f"; {len(failed) - 1} more failed" if len(failed) > 1 else ""
    reason = f"{deciding['metric']}: {deciding['why']}" + others
    return Decision(not failed, deciding["metric"], reason, tuple(checks))


def _check(m: GateMetric, value, base) -> tuple[bool, str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False, "the candidate has no value"
    better = (lambda a, b: a >= b) if m.higher_is_better else (lambda a, b: a <= b)
    sign = ">=" if m.higher_is_better else "<="
    if m.threshold is not None and not better(value, m.threshold):
        return False, f"candidate {value:.4f} misses the threshold ({m.direction} is better: {sign} {m.threshold:g})"
    if base is None or m.change_tolerance is None or (isinstance(base, float) and math.isnan(base)):
        return True, f"candidate {value:.4f}" + (" (nothing to compare with)" if base is None else "")
    factor = 1 - m.change_tolerance if m.higher_is_better else 1 + m.change_tolerance
    bound = base * factor if base >= 0 else base / factor
    verdict = better(value, bound)
    return verdict, (f"candidate {value:.4f} vs serving {base:.4f} ({m.direction} is better, tolerance "
                     f"{m.change_tolerance * 100:g}%: {'within' if verdict else 'beyond'} it)")
