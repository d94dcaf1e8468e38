"""What scheduled retraining keeps between runs, and the lock that keeps two runs apart.

A run's exit codes and the error that carries them (`RetrainStop`), the
lock (`RunLock`), the state (`RunState`: spans used and refused, versions
promoted) and the history (one JSON line per cycle), with the file writes
that keep each of them whole when a run is killed part way.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import os

import tensorflow as tf

from stage_contracts.errors import UserError

# Exit codes a scheduler can alert on (0 also when there was nothing new: not an alert).
EXIT_PROMOTED = 0
EXIT_NOTHING_NEW = 0
EXIT_NOT_PROMOTED = 3
EXIT_DATA_CHECK_FAILED = 4
EXIT_LOCKED = 5
EXIT_DISK_FULL = 6  # stage_contracts.errors.DiskFullError's code, for every command
TRASH_PREFIX = ".trash-"  # a folder renamed aside before it is deleted: never half-deleted under its own name


class RetrainStop(UserError):
    """A run that ended on purpose (lock held, data refused, candidate not promoted)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_json(path: str, data) -> None:
    """Written aside and renamed over `path`: a reader sees the old file or the new one, never half of one."""
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def read_json(path: str, default):
    if not tf.io.gfile.exists(path):
        return default
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def append_line(path: str, record: dict) -> None:
    """One JSON line, appended by a single write and synced; a line torn by an earlier kill is closed first."""
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell():
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def read_history(path: str) -> list[dict]:
    """history.jsonl's records; a line torn by a kill mid-write is skipped."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def remove_aside(path: str) -> None:
    """Rename to a `.trash-` name, then delete: a kill leaves the folder whole or out of sight, never half."""
    trash = os.path.join(os.path.dirname(path), f"{TRASH_PREFIX}{os.path.basename(path)}")
    if tf.io.gfile.exists(trash):
        tf.io.gfile.rmtree(trash)
    tf.io.gfile.rename(path, trash)
    tf.io.gfile.rmtree(trash)


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
        self._file.write(f"pid {os.getpid()} since {now()}")
        self._file.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


@dataclasses.dataclass
class RunState:
    """Spans whose rows are in the serving model (`used`), spans refused with why, versions ever promoted."""

    used: list[str] = dataclasses.field(default_factory=list)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    promoted_versions: list[str] = dataclasses.field(default_factory=list)


class RunRecords:
    """The files of a work dir that outlive a run: `state.json` (RunState), `history.jsonl` (a line per cycle)."""

    def __init__(self, work_dir: str):
        self.state_path = os.path.join(work_dir, "state.json")
        self.history_path = os.path.join(work_dir, "history.jsonl")

    def load_state(self) -> RunState:
        return RunState(**read_json(self.state_path, {}))

    def save_state(self, state: RunState) -> None:
        write_json(self.state_path, dataclasses.asdict(state))

    def append_history(self, record: dict) -> None:
        append_line(self.history_path, record)

    def promoted_in_history(self) -> set[str]:
        if not os.path.exists(self.history_path):
            return set()
        return {r.get("version") for r in read_history(self.history_path) if r.get("decision") == "promoted"}
