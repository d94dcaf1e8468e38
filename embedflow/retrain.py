"""Scheduled retraining that never ships a worse model: `retrain`, `rollback` and `history`.

One run, as cron, systemd, Airflow or Cloud Scheduler calls it (each step a
method of `Retrainer`, in this order):

1. take the lock (an overlapping run exits at once);
2. find spans (a folder or file per day under `input_root`) not used or
   refused before; none -> say so and exit;
3. check each new span against the spans before it (data checks); a span
   outside its bounds stops the run before training;
4. preprocess all usable spans with TFT's analyzer cache (old spans are not
   re-analysed);
5. train a candidate, warm-started from the serving model when the
   vocabularies allow;
6. score candidate and serving model, both as exported SavedModels, on the
   same raw eval rows; promote only if the candidate is not worse by more
   than `tolerance`;
7. promote: the version folder appears by rename, the `serving` pointer is
   replaced atomically, then the state records it; old versions beyond
   `keep_versions` go.

The commit protocol is recoverable at every step boundary: a version folder
carries the spans it was trained on (`retrain.json`), so a run killed after
the pointer switch but before the state was written is reconciled by the
next run (the state adopts the serving version), and one killed before the
switch leaves serving untouched and an orphan folder the next run removes
before redoing the work.  Every run appends a record to `history.jsonl`.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import logging
import os
import signal
import sys
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
import yaml

from beam_jobs.span_stats import (
    compare_with_history, eval_rows, failed_checks, load_arrays, read_span, save_arrays, span_statistics)
from features.errors import UserError
from features.graph import TF_TYPES
from features.spec import FeatureSpec, load_spec
from features.spec_reader import load_yaml
from trainer.config import TrainConfig
from trainer.model_dir import serving_version, switch_serving, versions, write_tf_serving_config

log = logging.getLogger(__name__)

# Exit codes a scheduler can alert on (0 also when there was nothing new: not an alert).
EXIT_PROMOTED = 0
EXIT_NOTHING_NEW = 0
EXIT_NOT_PROMOTED = 3
EXIT_DATA_CHECK_FAILED = 4
EXIT_LOCKED = 5
EVAL_ROWS = "eval_rows.parquet"  # a span's raw eval rows, saved when it is checked
VERSION_RECORD = "retrain.json"  # in a version folder: the run and spans it was trained on
FAULT_ENV = "EMBEDFLOW_FAULT_AT"  # tests: the run kills itself at this named step boundary
FAULT_POINTS = ("after_data_check", "after_preprocess", "after_train", "after_export", "after_switch")
_TRAIN_FIXED = ("input", "job_dir", "model_dir", "warm_start_from")  # a run decides these itself


class RetrainStop(UserError):
    """A run that ended on purpose (lock held, data refused, candidate not promoted)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclasses.dataclass(frozen=True)
class RetrainConfig:
    input_root: str
    work_dir: str
    model_dir: str
    spec: str = "movielens"
    keep_versions: int = 3
    tolerance: float = 0.02
    checks: dict = dataclasses.field(default_factory=dict)
    train: dict = dataclasses.field(default_factory=dict)  # TrainConfig settings (epochs, seed, ...)
    beam_args: tuple[str, ...] = ()
    max_eval_rows: int = 200_000
    path: str = ""

    @classmethod
    def load(cls, path: str) -> "RetrainConfig":
        if not os.path.exists(path):
            raise UserError(f"Retrain config {path} does not exist.")
        try:
            with open(path, encoding="utf-8") as f:
                raw = load_yaml(f.read()) or {}
        except (yaml.YAMLError, UnicodeDecodeError, IsADirectoryError) as e:
            raise UserError(f"Retrain config {path} is not a YAML file: {' '.join(str(e).split())}") from None
        if not isinstance(raw, dict):
            raise UserError(f"Retrain config {path} holds {type(raw).__name__}, not a mapping of settings.")
        known = {f.name for f in dataclasses.fields(cls)} - {"path"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UserError(f"Retrain config {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        missing = [k for k in ("input_root", "work_dir", "model_dir") if k not in raw]
        if missing:
            raise UserError(f"Retrain config {path}: missing {', '.join(missing)}")
        base = os.path.dirname(os.path.abspath(path))
        for key in ("input_root", "work_dir", "model_dir"):
            raw[key] = os.path.join(base, raw[key])
        if "spec" in raw and raw["spec"].endswith((".yaml", ".yml")):
            raw["spec"] = os.path.join(base, raw["spec"])
        raw["beam_args"] = tuple(raw.get("beam_args", ()))
        config = cls(path=path, **raw)
        config.train_config(".", ".", None, None)  # unknown keys and bad values under `train:` fail now
        return config

    def train_config(self, input_dir: str, job_dir: str, model_dir: str | None,
                     warm_start_from: str | None) -> TrainConfig:
        return TrainConfig.from_mapping(self.train or {}, f"Retrain config {self.path}: train", input=input_dir,
                                        job_dir=job_dir, model_dir=model_dir, warm_start_from=warm_start_from)


# ------------------------------------------------------------------ small pieces
def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        log.warning("Fault injection: killing this run at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)


def _write_json(path: str, data) -> None:
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def _read_json(path: str, default):
    if not tf.io.gfile.exists(path):
        return default
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


class RunLock:
    """An exclusive, non-blocking lock; the OS releases it if the process dies."""

    def __init__(self, path: str):
        self.path = path
        self._file = None

    def __enter__(self):
        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise RetrainStop(f"Another retrain run holds the lock {self.path} ({holder}); exiting without "
                              f"doing anything.", EXIT_LOCKED) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()} since {_now()}")
        self._file.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


# ------------------------------------------------------------------ what the steps hand on
@dataclasses.dataclass
class RunState:
    """Spans whose rows are in the serving model (`used`), spans refused with why, versions ever promoted."""

    used: list[str] = dataclasses.field(default_factory=list)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    promoted_versions: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Preprocessed:
    folder: str
    analysis: dict


@dataclasses.dataclass(frozen=True)
class Candidate:
    version_dir: str  # under a staging folder of the model dir until promoted
    staging: str
    warm_started: bool


@dataclasses.dataclass(frozen=True)
class GateResult:
    candidate: dict
    serving: dict | None
    eval_rows: int
    promote: bool
    reason: str


# ------------------------------------------------------------------ the run
class Retrainer:
    def __init__(self, config: RetrainConfig):
        self.cfg = config
        self.spec: FeatureSpec = load_spec(config.spec)
        os.makedirs(config.work_dir, exist_ok=True)
        tf.io.gfile.makedirs(config.model_dir)
        self.state_path = os.path.join(config.work_dir, "state.json")
        self.history_path = os.path.join(config.work_dir, "history.jsonl")
        self.spans_dir = os.path.join(config.work_dir, "spans")
        self.record: dict[str, Any] = {}
        self.timings: dict[str, float] = {}

    def run(self) -> int:
        """The steps of README's "Scheduled retraining", in order; each stops the run by raising RetrainStop."""
        started = time.time()
        self.record = {"run_id": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ"),
                       "started_at": _now(), "config": self.cfg.path}
        self.timings = {}
        log.info("[1/7] Lock taken; reconciling the state with %s", self.cfg.model_dir)
        state = self.reconcile(self.load_state())
        log.info("[2/7] Looking for new spans under %s", self.cfg.input_root)
        new = self.find_new_spans(state)
        if not new:
            print(f"No new spans under {self.cfg.input_root} (used: {len(state.used)}, refused: "
                  f"{len(state.refused)}); nothing to do.")
            return EXIT_NOTHING_NEW
        log.info("[3/7] Checking %d new span(s) against %d earlier", len(new), len(state.used))
        self.check_spans(new, state)
        _fault_point("after_data_check")
        spans = state.used + new
        run_dir = os.path.join(self.cfg.work_dir, "runs", self.record["run_id"])
        log.info("[4/7] Preprocessing %d span(s); TFT's analyzer cache skips the analysed ones", len(spans))
        prep = self.preprocess(spans, run_dir)
        _fault_point("after_preprocess")
        log.info("[5/7] Training the candidate")
        candidate = self.train_candidate(prep, run_dir, spans)
        _fault_point("after_train")
        log.info("[6/7] Scoring the candidate and the serving model on the same eval rows")
        gate = self.evaluate(candidate, spans)
        if not gate.promote:
            self.refuse(candidate, gate, state, new)
        log.info("[7/7] Promoting: %s", gate.reason)
        version = self.promote(candidate, gate, state, spans)
        self.record["total_seconds"] = round(time.time() - started, 2)
        self.append_history(self.record)
        print(f"Promoted version {version} ({gate.reason}); serving pointer updated in {self.cfg.model_dir}.")
        return EXIT_PROMOTED

    # ---------------------------------------------------------------- state
    def load_state(self) -> RunState:
        return RunState(**_read_json(self.state_path, {}))

    def save_state(self, state: RunState) -> None:
        _write_json(self.state_path, dataclasses.asdict(state))

    def append_history(self, record: dict) -> None:
        with open(self.history_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def reconcile(self, state: RunState) -> RunState:
        """Make the state agree with the model dir after a run that was killed part way, then tidy up.

        A serving version the state does not know was promoted by a run killed
        after its pointer switch: the state adopts it (its spans are in its
        `retrain.json`).  Staging folders and versions never promoted are left
        overs of runs killed before their switch: removed.
        """
        serving = serving_version(self.cfg.model_dir)
        if serving and serving not in state.promoted_versions:
            record = _read_json(os.path.join(self.cfg.model_dir, serving, VERSION_RECORD), None)
            if record is not None:
                log.info("Version %s serves but the state missed its promotion (a run was killed after its "
                         "pointer switch); recording it now", serving)
                state.promoted_versions.append(serving)
                state.used = list(record["spans"])
                self.save_state(state)
                self.append_history({"decision": "promoted", "version": serving, "run_id": record["run_id"],
                                     "new_spans": record["new_spans"], "reason": "recovered after a kill",
                                     "finished_at": _now()})
        write_tf_serving_config(self.cfg.model_dir)  # catches up with a pointer switched by a killed run
        for name in (n.rstrip("/") for n in tf.io.gfile.listdir(self.cfg.model_dir)):
            path = os.path.join(self.cfg.model_dir, name)
            orphan = name.isdigit() and name not in state.promoted_versions
            if name.startswith(".staging-") or orphan:
                log.info("Removing %s left by an interrupted run", path)
                tf.io.gfile.rmtree(path)
        return state

    # ---------------------------------------------------------------- steps
    def find_new_spans(self, state: RunState) -> list[str]:
        if not os.path.isdir(self.cfg.input_root):
            raise UserError(f"Input root {self.cfg.input_root} does not exist.")
        known = set(state.used) | set(state.refused)
        new = sorted(n for n in os.listdir(self.cfg.input_root) if not n.startswith((".", "_")) and n not in known)
        if new:
            self.record["new_spans"] = new
            log.info("New span(s): %s", ", ".join(new))
        return new

    def check_spans(self, new: list[str], state: RunState) -> dict[str, dict]:
        """Each new span's statistics against everything before it; a span out of bounds is refused (exit 4)."""
        t = time.time()
        history = [self._saved_stats(s) for s in state.used]
        checked = {}
        for name in new:
            span = read_span(self.spec, os.path.join(self.cfg.input_root, name))
            stats, arrays = span_statistics(self.spec, span)
            stats = compare_with_history(stats, arrays, history)
            problems = failed_checks(stats, self.cfg.checks)
            checked[name] = stats
            if problems:
                self.record.update(decision="refused: data check", reason=f"span {name}: " + "; ".join(problems),
                                   span_stats=checked, durations={"data_check": round(time.time() - t, 2)},
                                   serving_version=serving_version(self.cfg.model_dir), finished_at=_now())
                state.refused[name] = self.record["reason"]
                self.save_state(state)
                self.append_history(self.record)
                raise RetrainStop(f"Data check failed for span {name} under {self.cfg.input_root}: "
                                  + "; ".join(problems) + ". Serving is unchanged; the span is set aside "
                                  f"(see `embedflow history --config {self.cfg.path}`).", EXIT_DATA_CHECK_FAILED)
            self._save_stats(name, stats, arrays, eval_rows(self.spec, span))
            history.append((stats, arrays))
        self.record["span_stats"] = checked
        self.timings["data_check"] = round(time.time() - t, 2)
        return checked

    def preprocess(self, spans: list[str], run_dir: str) -> Preprocessed:
        """Every usable span through the preprocess job; TFT's cache skips analysing the old ones."""
        from beam_jobs import preprocess

        t = time.time()
        folder = os.path.join(run_dir, "prep")
        manifest = preprocess.run(self.spec, {s: os.path.join(self.cfg.input_root, s) for s in spans}, folder,
                                  list(self.cfg.beam_args), cache_dir=os.path.join(self.cfg.work_dir, "tft_cache"))
        self.record["analysis"] = manifest["analysis"]
        self.timings["preprocess"] = round(time.time() - t, 2)
        return Preprocessed(folder, manifest["analysis"])

    def train_candidate(self, prep: Preprocessed, run_dir: str, spans: list[str]) -> Candidate:
        """Train into a staging folder of the model dir (same filesystem: promotion is a rename)."""
        from trainer.task import train

        serving = serving_version(self.cfg.model_dir)
        staging = os.path.join(self.cfg.model_dir, f".staging-{self.record['run_id']}")
        t = time.time()
        result = train(self.cfg.train_config(prep.folder, os.path.join(run_dir, "job"), staging,
                                             os.path.join(self.cfg.model_dir, serving) if serving else None))
        _write_json(os.path.join(result.version_dir, VERSION_RECORD),
                    {"run_id": self.record["run_id"], "spans": spans, "new_spans": self.record["new_spans"]})
        self.timings["train"] = round(time.time() - t, 2)
        warm = result.metrics.get("warm_started_from") is not None
        self.record["warm_started"] = warm
        return Candidate(result.version_dir, staging, warm)

    def evaluate(self, candidate: Candidate, spans: list[str]) -> GateResult:
        """Score both exported models on the same raw eval rows; promote unless worse beyond the tolerance."""
        t = time.time()
        rows = self._eval_set(spans)
        serving = serving_version(self.cfg.model_dir)
        scored = self._score(candidate.version_dir, rows)
        serving_scored = self._score(os.path.join(self.cfg.model_dir, serving), rows) if serving else None
        if serving_scored is None:
            promote, why = True, "no model is serving yet"
        else:
            promote, why = self._better_or_equal(scored, serving_scored)
        n = int(len(rows[self.spec.label.column]))
        self.record.update(candidate=scored, serving=serving_scored, eval_rows=n, serving_version=serving,
                           candidate_version=os.path.basename(candidate.version_dir), reason=why)
        self.timings["evaluate"] = round(time.time() - t, 2)
        return GateResult(scored, serving_scored, n, promote, why)

    def refuse(self, candidate: Candidate, gate: GateResult, state: RunState, new: list[str]) -> None:
        """The candidate is worse: drop it, set the new spans aside, keep serving (exit 3)."""
        tf.io.gfile.rmtree(candidate.staging)
        state.refused.update({s: f"candidate not promoted: {gate.reason}" for s in new})
        self.record.update(decision="refused: evaluation gate", durations=self.timings, finished_at=_now())
        self.save_state(state)
        self.append_history(self.record)
        raise RetrainStop(f"Candidate not promoted: {gate.reason}. Serving stays on version "
                          f"{self.record['serving_version']}.", EXIT_NOT_PROMOTED)

    def promote(self, candidate: Candidate, gate: GateResult, state: RunState, spans: list[str]) -> str:
        """Version folder by rename, then the pointer switch, then the state: each boundary recoverable."""
        version = os.path.basename(candidate.version_dir)
        tf.io.gfile.rename(candidate.version_dir, os.path.join(self.cfg.model_dir, version))
        tf.io.gfile.rmtree(candidate.staging)
        _fault_point("after_export")
        switch_serving(self.cfg.model_dir, version)
        _fault_point("after_switch")
        state.promoted_versions.append(version)
        state.used = spans
        self.save_state(state)
        removed = self.prune()
        self.record.update(decision="promoted", version=version, removed_versions=removed, durations=self.timings,
                           finished_at=_now())
        return version

    def prune(self) -> list[str]:
        """Keep the newest `keep_versions` versions (and always the serving one)."""
        found = versions(self.cfg.model_dir)
        keep = set(found[-self.cfg.keep_versions:]) | {serving_version(self.cfg.model_dir)}
        removed = [v for v in found if v not in keep]
        for v in removed:
            tf.io.gfile.rmtree(os.path.join(self.cfg.model_dir, v))
        return removed

    # ---------------------------------------------------------------- helpers of the steps
    def _saved_stats(self, name: str) -> tuple[dict, dict]:
        folder = os.path.join(self.spans_dir, name)
        return _read_json(os.path.join(folder, "stats.json"), {}), load_arrays(os.path.join(folder, "arrays.npz"))

    def _save_stats(self, name: str, stats: dict, arrays: dict, evaluation: pa.Table) -> None:
        folder = os.path.join(self.spans_dir, name)
        os.makedirs(folder, exist_ok=True)
        save_arrays(os.path.join(folder, "arrays.npz"), arrays)
        pq.write_table(evaluation, os.path.join(folder, EVAL_ROWS))
        _write_json(os.path.join(folder, "stats.json"), stats)

    def _eval_set(self, spans: list[str]) -> dict[str, np.ndarray]:
        """Raw eval rows of `spans` (the stable split, saved when each span was checked), capped for speed."""
        tables = [pq.read_table(os.path.join(self.spans_dir, s, EVAL_ROWS)) for s in spans]
        table = pa.concat_tables([t for t in tables if t.num_rows]).slice(0, self.cfg.max_eval_rows)
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}

    def _score(self, version_dir: str, rows: dict[str, np.ndarray]) -> dict:
        """A SavedModel's eval metrics on raw rows, through its `predict` signature."""
        from trainer.metrics import binary_metrics, regression_metrics

        predict = tf.saved_model.load(version_dir).signatures["predict"]
        outputs = []
        n = len(rows[self.spec.label.column])
        for start in range(0, n, 8192):
            inputs = {c.name: tf.constant(rows[c.name][start:start + 8192].tolist(), TF_TYPES[c.type])
                      for c in self.spec.serving_columns()}
            outputs.append(predict(**inputs)["prediction"].numpy())
        prediction = np.concatenate(outputs)
        label = self.spec.label.to_model_scale(rows[self.spec.label.column].astype(np.float64))
        return (binary_metrics if self.spec.label.is_binary else regression_metrics)(label, prediction)

    def _better_or_equal(self, candidate: dict, serving: dict) -> tuple[bool, str]:
        tolerance = self.cfg.tolerance
        if self.spec.label.is_binary:
            ok = candidate["auc"] >= serving["auc"] * (1 - tolerance)
            return ok, f"AUC candidate {candidate['auc']:.4f} vs serving {serving['auc']:.4f} (tolerance {tolerance:.0%})"
        ok = candidate["rmse"] <= serving["rmse"] * (1 + tolerance)
        return ok, f"RMSE candidate {candidate['rmse']:.4f} vs serving {serving['rmse']:.4f} (tolerance {tolerance:.0%})"


def rollback(config: RetrainConfig) -> str:
    """Point serving at the newest version older than the current one."""
    current = serving_version(config.model_dir)
    older = [v for v in versions(config.model_dir) if current is None or int(v) < int(current)]
    if not older:
        raise UserError(f"No version older than {current} in {config.model_dir} to roll back to.")
    switch_serving(config.model_dir, older[-1])
    with open(os.path.join(config.work_dir, "history.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps({"decision": "rollback", "from_version": current, "version": older[-1],
                            "finished_at": _now()}) + "\n")
    return older[-1]


def format_history(config: RetrainConfig) -> str:
    path = os.path.join(config.work_dir, "history.jsonl")
    if not os.path.exists(path):
        return f"No runs recorded in {path}."
    lines = [f"{'finished':<26} {'decision':<26} {'spans':<22} {'candidate':>10} {'serving':>10}  version  note"]
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            metric = "auc" if (r.get("candidate") or {}).get("auc") is not None else "rmse"
            cand = f"{r['candidate'][metric]:.4f}" if r.get("candidate") else "-"
            serv = f"{r['serving'][metric]:.4f}" if r.get("serving") else "-"
            spans = ",".join(r.get("new_spans", [])) or "-"
            note = r.get("reason", "")
            if r.get("analysis"):
                note += f" [analysed {','.join(r['analysis']['spans_analyzed'])}; cached " \
                        f"{','.join(r['analysis']['spans_from_cache']) or '-'}]"
            lines.append(f"{r.get('finished_at', '?'):<26} {r['decision']:<26} {spans:<22} {cand:>10} {serv:>10}  "
                         f"{r.get('version', '-'):<8} {note}")
    return "\n".join(lines)


if __name__ == "__main__":
    from embedflow.cli import main

    sys.exit(main(["retrain", *sys.argv[1:]]))
