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
6. score candidate and serving model on the same raw eval rows (RMSE or
   log-loss/AUC through their SavedModels; recall@10/NDCG@10 through their
   embeddings on the same held-out positives) and judge them with the gate
   (retraining/gate.py: metrics as data, overridable by the config's `gate:`);
7. promote: the version folder appears by rename, the `serving` pointer is
   replaced atomically, then the state and the history record it; old
   versions beyond `keep_versions` go (renamed aside first, then deleted).

The commit protocol is recoverable at every step boundary: a version folder
carries the spans it was trained on (`retrain.json`), so a run killed after
the pointer switch but before the state was written is reconciled by the
next run (the state adopts the serving version), and one killed before the
switch leaves serving untouched and an orphan folder the next run removes
before redoing the work.  Every run appends a record to `history.jsonl`,
failed ones too (with the step and the reason); a disk-full failure is one
paragraph (exit 6) and leaves no temporary folder.  Run folders beyond the
newest `keep_runs` are removed.

This module orders the steps; each job is its own module: the lock, state
and history (retraining/retrain_state.py), what is kept of each checked span
(retraining/span_store.py), the scores both models get
(retraining/candidate_scores.py), the gate that judges them
(retraining/gate.py), the file moves of promotion and pruning
(retraining/promotion.py), and the cycles' own folders (retraining/run_folders.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import signal
import sys
import time
from typing import Any

import tensorflow as tf
import yaml

from beam_jobs.config import PreprocessConfig
from retraining.span_stats import compare_with_history, eval_rows, failed_checks, read_span, span_statistics
from retraining.candidate_scores import ranking_scores, saved_model_scores
from retraining.gate import RANKING_METRICS, GateMetric, default_gate, judge, parse_gate, task_of
from retraining.promotion import empty_trash, loads, move_to_trash, publish, removable_versions, remove_leftovers
from retraining.retrain_state import (  # noqa: F401 - EXIT_DISK_FULL, EXIT_LOCKED, RunLock: the retrain API (tests)
    EXIT_DATA_CHECK_FAILED, EXIT_DISK_FULL, EXIT_LOCKED, EXIT_NOT_PROMOTED, EXIT_NOTHING_NEW, EXIT_PROMOTED,
    RetrainStop, RunLock, RunRecords, RunState, now, read_history, read_json, write_json)
from retraining.retrain_state import append_line as _append_line
from retraining.run_folders import RunFolders
from retraining.span_store import SpanStore
from stage_contracts.errors import UserError, disk_full_error, is_disk_full
from features.spec import FeatureSpec, load_spec
from features.spec_reader import load_yaml
from trainer.config import TrainConfig
from stage_contracts.model_dir import serving_version, switch_serving, versions, write_tf_serving_config

log = logging.getLogger(__name__)

VERSION_RECORD = "retrain.json"  # in a version folder: the run and spans it was trained on
FAULT_ENV = "EMBEDFLOW_FAULT_AT"  # tests: the run kills itself at this named step boundary
FAULT_POINTS = ("after_data_check", "after_preprocess", "after_train", "after_export", "after_switch")
# also "during_prune": after the old versions went aside, before the history has the promotion
_TRAIN_FIXED = ("input", "job_dir", "model_dir", "warm_start_from")  # a run decides these itself


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
    gate: list | None = None  # retraining/gate.py: [{metric, direction, threshold, change_tolerance}]; None: per task
    keep_runs: int = 3  # work_dir/runs/<id> folders kept (the newest cycles')
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
            raw[key] = _beside(base, raw[key])
        if "spec" in raw and raw["spec"].endswith((".yaml", ".yml")):
            raw["spec"] = _beside(base, raw["spec"])
        raw["beam_args"] = tuple(raw.get("beam_args", ()))
        for key in ("keep_versions", "keep_runs"):
            if key in raw and (isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 1):
                raise UserError(f"Retrain config {path}: {key} must be a whole number >= 1; got {raw[key]!r}.")
        config = cls(path=path, **raw)
        config.train_config(".", ".", None, None)  # unknown keys and bad values under `train:` fail now
        if config.gate is not None:
            parse_gate(config.gate, f"Retrain config {path}", config.tolerance)
        return config

    def gate_for(self, spec: FeatureSpec) -> tuple[GateMetric, ...]:
        """The config's `gate:` list (checked against the spec's task), else the task's default gate."""
        task = task_of(spec.model.ranks_items, spec.label.task)
        if self.gate is None:
            return default_gate(task, self.tolerance, spec.label.is_binary)
        return parse_gate(self.gate, f"Retrain config {self.path}", self.tolerance, task)

    def train_config(self, input_dir: str, job_dir: str, model_dir: str | None,
                     warm_start_from: str | None) -> TrainConfig:
        return TrainConfig.from_mapping(self.train or {}, f"Retrain config {self.path}: train", input=input_dir,
                                        job_dir=job_dir, model_dir=model_dir, warm_start_from=warm_start_from)


# ------------------------------------------------------------------ small pieces
def _fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        log.warning("Fault injection: killing this run at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)


def _beside(base: str, path: str) -> str:
    """A config's path, relative to the config's folder, normalised (runs/models, not configs/../runs/models, in
    every log line); a gs:// URL as given."""
    return path if "://" in str(path) else os.path.normpath(os.path.join(base, path))


# ------------------------------------------------------------------ what the steps hand on
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
    decided_by: str = ""


# ------------------------------------------------------------------ the run
class Retrainer:
    def __init__(self, config: RetrainConfig):
        self.cfg = config
        self.spec: FeatureSpec = load_spec(config.spec)
        os.makedirs(config.work_dir, exist_ok=True)
        tf.io.gfile.makedirs(config.model_dir)
        self.records = RunRecords(config.work_dir)
        self.history_path = self.records.history_path
        self.cycle_path = os.path.join(config.work_dir, "cycle.json")  # the running cycle's step (see `enter`)
        self.spans = SpanStore(os.path.join(config.work_dir, "spans"))
        self.runs = RunFolders(config.work_dir, config.keep_runs)
        self.record: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.gate = config.gate_for(self.spec)
        self.step = ""

    def run(self) -> int:
        """One cycle; whatever ends it unplanned (an error, disk full) is recorded in the history, then raised.

        Disk full becomes one paragraph (exit 6) after this cycle's temporary folders are removed.
        """
        self.record = {"run_id": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ"),
                       "started_at": now(), "config": self.cfg.path}
        self.timings, self.step = {}, "reconcile"
        self.record_killed_cycle()
        try:
            self.enter("reconcile")
            return self._cycle()
        except RetrainStop:
            raise
        except Exception as e:
            disk_full = is_disk_full(e)
            self._remove_temporaries(run_dir_too=disk_full)
            reason = f"{type(e).__name__}: {' '.join(str(e).split())[:500]}"
            self.record.update(decision="failed", step=self.step, reason=reason, durations=self.timings,
                               finished_at=now())
            try:
                self.append_history(self.record)
            except OSError:
                log.warning("Could not record this failed cycle in %s", self.history_path)
            if disk_full:
                needed = self.runs.space_needed(self.record["run_id"], self.cfg.model_dir)
                raise disk_full_error(e, self._folder_of_step(), f"the retrain step '{self.step}' (cycle "
                                      f"{self.record['run_id']})", needed, cleaned=True) from e
            raise
        finally:
            try:
                if os.path.exists(self.cycle_path):
                    os.remove(self.cycle_path)
                self.runs.prune()
            except OSError as e:  # never hides why the cycle ended
                log.warning("Could not tidy %s after this cycle: %s", self.cfg.work_dir, e)

    def enter(self, step: str) -> None:
        """The step this cycle is in, also on disk (`cycle.json`), so a cycle killed in it is recorded later."""
        self.step = step
        write_json(self.cycle_path, {"run_id": self.record["run_id"], "started_at": self.record["started_at"],
                                      "step": step, "new_spans": self.record.get("new_spans", [])})

    def record_killed_cycle(self) -> None:
        """A `cycle.json` left behind means the cycle before was killed: its history line says so now."""
        cycle = read_json(self.cycle_path, None)
        if cycle is None:
            return
        log.warning("Cycle %s was killed during step '%s'; recording it in the history", cycle["run_id"],
                    cycle["step"])
        self.append_history({**cycle, "decision": "failed", "reason": f"killed during step '{cycle['step']}' "
                             "(no end recorded; found by the next cycle)", "finished_at": now()})
        os.remove(self.cycle_path)

    def _cycle(self) -> int:
        """The steps of docs/retraining.md, in order; each stops the run by raising RetrainStop."""
        started = time.time()
        log.info("[1/7] Lock taken; reconciling the state with %s", self.cfg.model_dir)
        state = self.reconcile(self.load_state())
        self.enter("find spans")
        log.info("[2/7] Looking for new spans under %s", self.cfg.input_root)
        new = self.find_new_spans(state)
        if not new:
            print(f"No new spans under {self.cfg.input_root} (used: {len(state.used)}, refused: "
                  f"{len(state.refused)}); nothing to do.")
            return EXIT_NOTHING_NEW
        log.info("[3/7] Checking %d new span(s) against %d earlier", len(new), len(state.used))
        self.enter("data check")
        self.check_spans(new, state)
        _fault_point("after_data_check")
        spans = state.used + new
        run_dir = self.run_dir
        log.info("[4/7] Preprocessing %d span(s); TFT's analyzer cache skips the analysed ones", len(spans))
        self.enter("preprocess")
        prep = self.preprocess(spans, run_dir)
        _fault_point("after_preprocess")
        log.info("[5/7] Training the candidate")
        self.enter("train")
        candidate = self.train_candidate(prep, run_dir, spans)
        _fault_point("after_train")
        log.info("[6/7] Scoring the candidate and the serving model on the same eval rows")
        self.enter("evaluate")
        gate = self.evaluate(candidate, spans)
        if not gate.promote:
            self.refuse(candidate, gate, state, new)
        log.info("[7/7] Promoting: %s", gate.reason)
        self.enter("promote")
        version = self.promote(candidate, gate, state, spans, started)
        print(f"Promoted version {version} ({gate.reason}); serving pointer updated in {self.cfg.model_dir}.")
        return EXIT_PROMOTED

    @property
    def run_dir(self) -> str:
        return self.runs.path(self.record["run_id"])

    def _remove_temporaries(self, run_dir_too: bool) -> None:
        """After a failed cycle: its candidate's staging folder (and, when the disk is full, its run folder)."""
        paths = [os.path.join(self.cfg.model_dir, f".staging-{self.record['run_id']}")]
        paths += [self.run_dir] if run_dir_too else []
        for path in paths:
            try:
                if tf.io.gfile.exists(path):
                    tf.io.gfile.rmtree(path)
            except (OSError, tf.errors.OpError) as e:
                log.warning("Could not remove %s: %s", path, e)

    def _folder_of_step(self) -> str:
        return {"train": self.cfg.model_dir, "promote": self.cfg.model_dir}.get(self.step, self.cfg.work_dir)

    # ---------------------------------------------------------------- state
    def load_state(self) -> RunState:
        return self.records.load_state()

    def save_state(self, state: RunState) -> None:
        self.records.save_state(state)

    def append_history(self, record: dict) -> None:
        self.records.append_history(record)

    def reconcile(self, state: RunState) -> RunState:
        """Make the state agree with the model dir after a run that was killed part way, then tidy up.

        A serving version the state does not know was promoted by a run killed
        after its pointer switch: the state adopts it (its spans are in its
        `retrain.json`); one the history does not name (a run killed before
        writing its line, e.g. while pruning) gets its line.  Staging folders,
        versions never promoted, `.trash-` folders and version folders without
        their SavedModel are left overs of killed runs: removed.
        """
        serving = serving_version(self.cfg.model_dir)
        record = read_json(os.path.join(self.cfg.model_dir, serving, VERSION_RECORD), None) if serving else None
        if record is not None and serving not in state.promoted_versions:
            log.info("Version %s serves but the state missed its promotion (a run was killed after its "
                     "pointer switch); recording it now", serving)
            state.promoted_versions.append(serving)
            state.used = list(record["spans"])
            self.save_state(state)
        if record is not None and serving not in self.records.promoted_in_history():
            log.info("Version %s serves but the history missed its promotion (a run was killed before writing "
                     "it); recording it now", serving)
            self.append_history({"decision": "promoted", "version": serving, "run_id": record["run_id"],
                                 "new_spans": record["new_spans"], "reason": "recovered after a kill",
                                 "finished_at": now()})
        write_tf_serving_config(self.cfg.model_dir)  # catches up with a pointer switched by a killed run
        remove_leftovers(self.cfg.model_dir, state.promoted_versions, serving)
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
        history = [self.spans.saved_stats(s) for s in state.used]
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
                                   serving_version=serving_version(self.cfg.model_dir), finished_at=now())
                state.refused[name] = self.record["reason"]
                self.save_state(state)
                self.append_history(self.record)
                raise RetrainStop(f"Data check failed for span {name} under {self.cfg.input_root}: "
                                  + "; ".join(problems) + ". Serving is unchanged; the span is set aside "
                                  f"(see `embedflow history --config {self.cfg.path}`).", EXIT_DATA_CHECK_FAILED)
            self.spans.save(name, stats, arrays, eval_rows(self.spec, span))
            history.append((stats, arrays))
        self.record["span_stats"] = checked
        self.timings["data_check"] = round(time.time() - t, 2)
        return checked

    def preprocess(self, spans: list[str], run_dir: str) -> Preprocessed:
        """Every usable span through the preprocess job; TFT's cache skips analysing the old ones."""
        from beam_jobs import preprocess

        t = time.time()
        folder = os.path.join(run_dir, "prep")
        manifest = preprocess.run(PreprocessConfig(
            output=folder, input={s: os.path.join(self.cfg.input_root, s) for s in spans}, spec=self.spec,
            beam_args=tuple(self.cfg.beam_args), cache_dir=os.path.join(self.cfg.work_dir, "tft_cache")))
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
        write_json(os.path.join(result.version_dir, VERSION_RECORD),
                    {"run_id": self.record["run_id"], "spans": spans, "new_spans": self.record["new_spans"]})
        self.timings["train"] = round(time.time() - t, 2)
        warm = result.metrics.get("warm_started_from") is not None
        self.record["warm_started"] = warm
        return Candidate(result.version_dir, staging, warm)

    def evaluate(self, candidate: Candidate, spans: list[str]) -> GateResult:
        """Score both models on the same raw eval rows and judge them with the gate (retraining/gate.py)."""
        t = time.time()
        rows = self.spans.eval_rows(spans, self.cfg.max_eval_rows)
        serving = serving_version(self.cfg.model_dir)
        dirs = {"candidate": candidate.version_dir}
        if serving:
            dirs["serving"] = os.path.join(self.cfg.model_dir, serving)
        scores = {name: saved_model_scores(self.spec, path, rows) for name, path in dirs.items()}
        if any(m.metric in RANKING_METRICS for m in self.gate):
            for name, ranked in ranking_scores(self.spec, dirs, rows).items():
                scores[name].update(ranked)
        scored, serving_scored = scores["candidate"], scores.get("serving")
        decision = judge(scored, serving_scored, self.gate)
        why = decision.reason if serving_scored is not None else f"no model is serving yet; {decision.reason}"
        n = int(len(rows[self.spec.label.column]))
        self.record.update(candidate=scored, serving=serving_scored, eval_rows=n, serving_version=serving,
                           candidate_version=os.path.basename(candidate.version_dir), reason=why,
                           decided_by=decision.decided_by, gate=list(decision.checks))
        self.timings["evaluate"] = round(time.time() - t, 2)
        return GateResult(scored, serving_scored, n, decision.promote, why, decision.decided_by)

    def refuse(self, candidate: Candidate, gate: GateResult, state: RunState, new: list[str]) -> None:
        """The candidate is worse: drop it, set the new spans aside, keep serving (exit 3)."""
        tf.io.gfile.rmtree(candidate.staging)
        state.refused.update({s: f"candidate not promoted: {gate.reason}" for s in new})
        self.record.update(decision="refused: evaluation gate", durations=self.timings, finished_at=now())
        self.save_state(state)
        self.append_history(self.record)
        raise RetrainStop(f"Candidate not promoted: {gate.reason}. Serving stays on version "
                          f"{self.record['serving_version']}.", EXIT_NOT_PROMOTED)

    def promote(self, candidate: Candidate, gate: GateResult, state: RunState, spans: list[str],
                started: float) -> str:
        """Version folder by rename, pointer switch, state, history, then pruning: each boundary recoverable."""
        version = publish(candidate.version_dir, candidate.staging, self.cfg.model_dir)
        _fault_point("after_export")
        switch_serving(self.cfg.model_dir, version)
        _fault_point("after_switch")
        state.promoted_versions.append(version)
        state.used = spans
        self.save_state(state)
        removed = self.prune(removable_versions(self.cfg.model_dir, self.cfg.keep_versions))
        self.record.update(decision="promoted", version=version, removed_versions=removed, durations=self.timings,
                           finished_at=now(), total_seconds=round(time.time() - started, 2))
        self.append_history(self.record)
        empty_trash(self.cfg.model_dir)
        return version

    def prune(self, removed: list[str]) -> list[str]:
        """Versions beyond the newest `keep_versions` (never the serving one) go out of sight by rename.

        Renamed to `.trash-<version>`, a version is no longer a version (`versions`, `rollback`) the instant it
        starts going; `empty_trash` deletes it after the history has the promotion, and the next run's
        reconciliation finishes a deletion a kill interrupted.
        """
        move_to_trash(self.cfg.model_dir, removed)
        _fault_point("during_prune")
        return removed


def rollback(config: RetrainConfig) -> str:
    """Point serving at the newest older version whose SavedModel loads; versions that do not are skipped."""
    current = serving_version(config.model_dir)
    older = [v for v in versions(config.model_dir) if current is None or int(v) < int(current)]
    skipped = {}
    for version in reversed(older):
        why = loads(os.path.join(config.model_dir, version))
        if why is None:
            break
        log.warning("Rollback skips version %s: its SavedModel does not load (%s)", version, why)
        print(f"Skipped version {version}: it does not load ({why}).")
        skipped[version] = why
    else:
        raise UserError(f"No version older than {current} in {config.model_dir} to roll back to"
                        + (f" that loads (skipped: {', '.join(skipped)})." if skipped else "."))
    switch_serving(config.model_dir, version)
    _append_line(os.path.join(config.work_dir, "history.jsonl"),
                 {"decision": "rollback", "from_version": current, "version": version, "skipped": skipped,
                  "finished_at": now()})
    return version


def format_history(config: RetrainConfig) -> str:
    """A line per cycle, then each gate metric: candidate, serving, pass or fail, and which one decided."""
    path = os.path.join(config.work_dir, "history.jsonl")
    if not os.path.exists(path):
        return f"No runs recorded in {path}."
    lines = [f"{'finished':<26} {'decision':<26} {'spans':<22} {'version':<11} {'decided by':<10}  note"]
    for r in read_history(path):
        spans = ",".join(r.get("new_spans", [])) or "-"
        note = r.get("reason", "")
        if r.get("step"):
            note = f"[{r['step']}] {note}"
        if r.get("analysis"):
            note += f" [analysed {','.join(r['analysis']['spans_analyzed'])}; cached " \
                    f"{','.join(r['analysis']['spans_from_cache']) or '-'}]"
        lines.append(f"{r.get('finished_at', '?'):<26} {r['decision']:<26} {spans:<22} {r.get('version', '-'):<11} "
                     f"{r.get('decided_by', '-'):<10}  {note}")
        for check in r.get("gate", []):
            serving = "-" if check["serving"] is None else f"{check['serving']:.4f}"
            candidate = "-" if check["candidate"] is None else f"{check['candidate']:.4f}"
            mark = "pass" if check["passed"] else "FAIL"
            decided = "  <- decided" if check["metric"] == r.get("decided_by") else ""
            lines.append(f"{'':<28}{check['metric']:<10} candidate {candidate:>8}  serving {serving:>8}  "
                         f"({check['direction']} is better) {mark}{decided}")
    return "\n".join(lines)


if __name__ == "__main__":
    from embedflow.cli import main

    sys.exit(main(["retrain", *sys.argv[1:]]))
