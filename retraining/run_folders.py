"""A retrain cycle's own folder under `work_dir/runs/` (its preprocess output and checkpoints), and how many of
them are kept."""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from retraining.retrain_state import TRASH_PREFIX, remove_aside
from stage_contracts.model_dir import serving_version

log = logging.getLogger(__name__)


class RunFolders:
    """`work_dir/runs/<run id>` folders: one per cycle, the newest `keep_runs` kept."""

    def __init__(self, work_dir: str, keep_runs: int):
        self.root, self.keep_runs = os.path.join(work_dir, "runs"), keep_runs

    def path(self, run_id: str) -> str:
        return os.path.join(self.root, run_id)

    def prune(self) -> list[str]:
        """Remove run folders (preprocess output, checkpoints) older than the newest `keep_runs`."""
        runs = self.root
        if not os.path.isdir(runs):
            return []
        names = sorted(n for n in os.listdir(runs) if not n.startswith("."))
        old = names[:-self.keep_runs]
        for name in old:
            log.info("Removing run folder %s (keep_runs: %d)", os.path.join(runs, name), self.keep_runs)
            remove_aside(os.path.join(runs, name))
        for name in os.listdir(runs):
            if name.startswith(TRASH_PREFIX):
                tf.io.gfile.rmtree(os.path.join(runs, name))
        return old

    def space_needed(self, run_id: str, model_dir: str) -> int | None:
        """About what a cycle writes: the newest earlier run folder plus the serving version (None: no cycle yet)."""
        runs = self.root
        earlier = sorted(r for r in os.listdir(runs) if r != run_id) if os.path.isdir(runs) else []
        serving = serving_version(model_dir)
        total = (_folder_bytes(os.path.join(runs, earlier[-1])) if earlier else 0) + \
            (_folder_bytes(os.path.join(model_dir, serving)) if serving else 0)
        return total or None


def _folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
               if os.path.isfile(os.path.join(root, f)))
