"""Scheduled retraining that never ships a worse model: `retrain`, `rollback` and `history`.

One run, as cron, systemd, Airflow or Cloud Scheduler calls it:

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
7. promote: the version folder appears by rename, then the `serving`
   pointer is replaced atomically; old versions beyond `keep_versions` go.

State changes only at the end of a run, so a crash or kill at any step
leaves serving untouched and the next run simply redoes the work.  Every
run appends a record to `history.jsonl`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import fcntl
import json
import logging
import os
import shutil
import signal
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from beam_jobs.errors import UserError
from beam_jobs.span_stats import (
    compare_with_history, eval_rows, failed_checks, load_arrays, read_span, save_arrays, span_statistics)
from beam_jobs.spec import FeatureSpec, load_spec

log = logging.getLogger(__name__)

# Exit codes a scheduler can alert on (0 also when there was nothing new: not an alert).
EXIT_PROMOTED = 0
EXIT_NOTHING_NEW = 0
EXIT_NOT_PROMOTED = 3
EXIT_DATA_CHECK_FAILED = 4
EXIT_LOCKED = 5
SERVING_POINTER = "serving"
EVAL_ROWS = "eval_rows.parquet"  # a span's raw eval rows, saved when it is checked
FAULT_ENV = "EMBEDFLOW_FAULT_AT"  # tests: the run kills itself at this named step


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
    train: dict = dataclasses.field(default_factory=dict)
    beam_args: tuple[str, ...] = ()
    max_eval_rows: int = 200_000
    path: str = ""

    @classmethod
    def load(cls, path: str) -> "RetrainConfig":
        if not os.path.exists(path):
            raise UserError(f"Retrain config {path} does not exist.")
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
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
        return cls(path=path, **raw)


# ------------------------------------------------------------------ small pieces
def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        log.warning("Fault injection: killing this run at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)


def _write_json(path: str, data) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _read_json(path: str, default):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
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


# ------------------------------------------------------------------ model dir
def serving_version(model_dir: str) -> str | None:
    pointer = os.path.join(model_dir, SERVING_POINTER)
    if not os.path.exists(pointer):
        return None
    with open(pointer, encoding="utf-8") as f:
        return f.read().strip() or None


def switch_serving(model_dir: str, version: str) -> None:
    """Point serving at `version` atomically (write a new pointer, then rename over the old)."""
    tmp = os.path.join(model_dir, f".{SERVING_POINTER}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(model_dir, SERVING_POINTER))


def versions(model_dir: str) -> list[str]:
    if not os.path.isdir(model_dir):
        return []
    return sorted((v for v in os.listdir(model_dir) if v.isdigit()), key=int)


# ------------------------------------------------------------------ the run
class Retrainer:
    def __init__(self, config: RetrainConfig):
        self.cfg = config
        self.spec: FeatureSpec = load_spec(config.spec)
        os.makedirs(config.work_dir, exist_ok=True)
        os.makedirs(config.model_dir, exist_ok=True)
        self.state_path = os.path.join(config.work_dir, "state.json")
        self.history_path = os.path.join(config.work_dir, "history.jsonl")
        self.spans_dir = os.path.join(config.work_dir, "spans")

    # state: spans whose rows are in the serving model ("used") and spans refused ("refused")
    def state(self) -> dict:
        return _read_json(self.state_path, {"used": [], "refused": {}, "promoted_versions": []})

    def append_history(self, record: dict) -> None:
        with open(self.history_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def available_spans(self) -> list[str]:
        if not os.path.isdir(self.cfg.input_root):
            raise UserError(f"Input root {self.cfg.input_root} does not exist.")
        return sorted(n for n in os.listdir(self.cfg.input_root) if not n.startswith((".", "_")))

    def recover(self, state: dict) -> None:
        """Remove what a killed run may have left: staging folders and versions never promoted."""
        for name in os.listdir(self.cfg.model_dir):
            path = os.path.join(self.cfg.model_dir, name)
            orphan = name.isdigit() and name not in state["promoted_versions"]
            if name.startswith(".staging-") or orphan:
                log.info("Removing %s left by an interrupted run", path)
                shutil.rmtree(path, ignore_errors=True)

    def span_stats(self, name: str, history: list[tuple[dict, dict]]) -> tuple[dict, dict, pa.Table]:
        """A new span's statistics and arrays, and its raw eval rows (kept for the evaluation gate)."""
        span = read_span(self.spec, os.path.join(self.cfg.input_root, name))
        stats, arrays = span_statistics(self.spec, span)
        return compare_with_history(stats, arrays, history), arrays, eval_rows(self.spec, span)

    def saved_stats(self, name: str) -> tuple[dict, dict]:
        folder = os.path.join(self.spans_dir, name)
        return _read_json(os.path.join(folder, "stats.json"), {}), load_arrays(os.path.join(folder, "arrays.npz"))

    def save_stats(self, name: str, stats: dict, arrays: dict, evaluation: pa.Table) -> None:
        folder = os.path.join(self.spans_dir, name)
        os.makedirs(folder, exist_ok=True)
        save_arrays(os.path.join(folder, "arrays.npz"), arrays)
        pq.write_table(evaluation, os.path.join(folder, EVAL_ROWS))
        _write_json(os.path.join(folder, "stats.json"), stats)

    def eval_set(self, spans: list[str]) -> dict[str, np.ndarray]:
        """Raw eval rows of `spans` (the stable split, saved when each span was checked), capped for speed:
        what both models are scored on."""
        tables = [pq.read_table(os.path.join(self.spans_dir, s, EVAL_ROWS)) for s in spans]
        table = pa.concat_tables([t for t in tables if t.num_rows])
        table = table.slice(0, self.cfg.max_eval_rows)
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}

    def score(self, version_dir: str, rows: dict[str, np.ndarray]) -> dict:
        """A SavedModel's eval metrics on raw rows, through its `predict` signature."""
        import tensorflow as tf

        from trainer.evaluation import binary_metrics, regression_metrics

        predict = tf.saved_model.load(version_dir).signatures["predict"]
        dtypes = {"int": tf.int64, "float": tf.float32, "string": tf.string}
        outputs = []
        n = len(rows[self.spec.label.column])
        for start in range(0, n, 8192):
            inputs = {c.name: tf.constant(rows[c.name][start:start + 8192].tolist(), dtypes[c.type])
                      for c in self.spec.serving_columns()}
            outputs.append(predict(**inputs)["prediction"].numpy())
        prediction = np.concatenate(outputs)
        label = rows[self.spec.label.column].astype(np.float64)
        if self.spec.label.transform == "log":
            label = np.log(np.maximum(label, 1e-6))
        if self.spec.label.task == "binary_classification":
            return binary_metrics(label, prediction)
        return regression_metrics(label, prediction)

    def better_or_equal(self, candidate: dict, serving: dict) -> tuple[bool, str]:
        tolerance = self.cfg.tolerance
        if self.spec.label.task == "binary_classification":
            ok = candidate["auc"] >= serving["auc"] * (1 - tolerance)
            return ok, f"AUC candidate {candidate['auc']:.4f} vs serving {serving['auc']:.4f} (tolerance {tolerance:.0%})"
        ok = candidate["rmse"] <= serving["rmse"] * (1 + tolerance)
        return ok, f"RMSE candidate {candidate['rmse']:.4f} vs serving {serving['rmse']:.4f} (tolerance {tolerance:.0%})"

    def run(self) -> int:
        started, timings = time.time(), {}
        record = {"run_id": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ"),
                  "started_at": _now(), "config": self.cfg.path}
        state = self.state()
        self.recover(state)
        known = set(state["used"]) | set(state["refused"])
        new = [s for s in self.available_spans() if s not in known]
        if not new:
            print(f"No new spans under {self.cfg.input_root} (used: {len(state['used'])}, refused: "
                  f"{len(state['refused'])}); nothing to do.")
            return EXIT_NOTHING_NEW
        record["new_spans"] = new
        log.info("New span(s): %s", ", ".join(new))

        # Data checks, each new span against everything before it.
        t = time.time()
        history = [self.saved_stats(s) for s in state["used"]]
        checked = {}
        for name in new:
            stats, arrays, evaluation = self.span_stats(name, history)
            problems = failed_checks(stats, self.cfg.checks)
            checked[name] = stats
            if problems:
                record.update(decision="refused: data check", reason=f"span {name}: " + "; ".join(problems),
                              span_stats=checked, durations={"data_check": round(time.time() - t, 2)},
                              serving_version=serving_version(self.cfg.model_dir), finished_at=_now())
                state["refused"][name] = record["reason"]
                _write_json(self.state_path, state)
                self.append_history(record)
                raise RetrainStop(f"Data check failed for span {name} under {self.cfg.input_root}: "
                                  + "; ".join(problems) + ". Serving is unchanged; the span is set aside "
                                  f"(see `embedflow history --config {self.cfg.path}`).", EXIT_DATA_CHECK_FAILED)
            self.save_stats(name, stats, arrays, evaluation)
            history.append((stats, arrays))
        record["span_stats"] = checked
        timings["data_check"] = round(time.time() - t, 2)
        _fault_point("after_data_check")

        # Preprocess every usable span; TFT's cache skips analysing the old ones.
        from beam_jobs import preprocess
        from trainer import task

        spans = state["used"] + new
        run_dir = os.path.join(self.cfg.work_dir, "runs", record["run_id"])
        t = time.time()
        manifest = preprocess.run(self.spec, {s: os.path.join(self.cfg.input_root, s) for s in spans},
                                  os.path.join(run_dir, "prep"), list(self.cfg.beam_args),
                                  cache_dir=os.path.join(self.cfg.work_dir, "tft_cache"))
        record["analysis"] = manifest["analysis"]
        timings["preprocess"] = round(time.time() - t, 2)
        _fault_point("after_preprocess")

        # Train a candidate into a staging folder of the model dir (same filesystem: promotion is a rename).
        serving = serving_version(self.cfg.model_dir)
        serving_dir = os.path.join(self.cfg.model_dir, serving) if serving else None
        staging = os.path.join(self.cfg.model_dir, f".staging-{record['run_id']}")
        t = time.time()
        result = task.train(os.path.join(run_dir, "prep"), os.path.join(run_dir, "job"), staging,
                            seed=int(self.cfg.train.get("seed", 42)),
                            args=argparse.Namespace(**{k: v for k, v in self.cfg.train.items() if k != "seed"}),
                            warm_start_from=serving_dir)
        timings["train"] = round(time.time() - t, 2)
        record["warm_started"] = result.metrics.get("warm_started_from") is not None
        _fault_point("after_train")

        # Evaluate both exported models on the same raw eval rows.
        t = time.time()
        rows = self.eval_set(spans)
        record["candidate"] = self.score(result.version_dir, rows)
        record["serving"] = self.score(serving_dir, rows) if serving_dir else None
        record["eval_rows"] = int(len(rows[self.spec.label.column]))
        timings["evaluate"] = round(time.time() - t, 2)
        if record["serving"] is None:
            promote, why = True, "no model is serving yet"
        else:
            promote, why = self.better_or_equal(record["candidate"], record["serving"])
        version = os.path.basename(result.version_dir)
        record.update(serving_version=serving, candidate_version=version, reason=why)
        if not promote:
            shutil.rmtree(staging, ignore_errors=True)
            state["refused"].update({s: f"candidate not promoted: {why}" for s in new})
            record.update(decision="refused: evaluation gate", durations=timings, finished_at=_now())
            _write_json(self.state_path, state)
            self.append_history(record)
            raise RetrainStop(f"Candidate not promoted: {why}. Serving stays on version {serving}.",
                              EXIT_NOT_PROMOTED)

        # Promote: the version folder appears by rename, then the pointer switches atomically.
        final = os.path.join(self.cfg.model_dir, version)
        os.replace(result.version_dir, final)
        shutil.rmtree(staging, ignore_errors=True)
        _fault_point("after_export")
        state["promoted_versions"].append(version)
        state["used"] = spans
        _write_json(self.state_path, state)
        switch_serving(self.cfg.model_dir, version)
        removed = self.prune(state)
        record.update(decision="promoted", version=version, removed_versions=removed, durations=timings,
                      total_seconds=round(time.time() - started, 2), finished_at=_now())
        self.append_history(record)
        print(f"Promoted version {version} ({why}); serving pointer updated in {self.cfg.model_dir}.")
        return EXIT_PROMOTED

    def prune(self, state: dict) -> list[str]:
        """Keep the newest `keep_versions` versions (and always the serving one)."""
        keep = set(versions(self.cfg.model_dir)[-self.cfg.keep_versions:]) | {serving_version(self.cfg.model_dir)}
        removed = [v for v in versions(self.cfg.model_dir) if v not in keep]
        for v in removed:
            shutil.rmtree(os.path.join(self.cfg.model_dir, v), ignore_errors=True)
        return removed


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


# ------------------------------------------------------------------ commands
def add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="retrain YAML (see README: Scheduled retraining)")


def retrain_main(args: argparse.Namespace, _extra: list[str]) -> None:
    config = RetrainConfig.load(args.config)
    retrainer = Retrainer(config)
    with RunLock(os.path.join(config.work_dir, "retrain.lock")):
        retrainer.run()


add_rollback_arguments = add_retrain_arguments
add_history_arguments = add_retrain_arguments


def rollback_main(args: argparse.Namespace, _extra: list[str]) -> None:
    config = RetrainConfig.load(args.config)
    with RunLock(os.path.join(config.work_dir, "retrain.lock")):
        print(f"Serving now points at version {rollback(config)} in {config.model_dir}.")


def history_main(args: argparse.Namespace, _extra: list[str]) -> None:
    print(format_history(RetrainConfig.load(args.config)))


if __name__ == "__main__":
    from embedflow.cli import main

    sys.exit(main(["retrain", *sys.argv[1:]]))
