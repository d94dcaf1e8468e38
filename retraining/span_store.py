"""What retraining keeps of each span it checked: its statistics (the next spans are checked against them) and
its raw eval rows (both models are scored on them), one folder per span under `work_dir/spans/`."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from retraining.span_stats import load_arrays, save_arrays
from retraining.retrain_state import read_json, remove_aside, write_json

EVAL_ROWS = "eval_rows.parquet"  # a span's raw eval rows, saved when it is checked


class SpanStore:
    """The checked spans' folders: `stats.json`, `arrays.npz` and the eval rows, each folder written whole."""

    def __init__(self, folder: str):
        self.folder = folder

    def saved_stats(self, name: str) -> tuple[dict, dict]:
        folder = os.path.join(self.folder, name)
        return read_json(os.path.join(folder, "stats.json"), {}), load_arrays(os.path.join(folder, "arrays.npz"))

    def save(self, name: str, stats: dict, arrays: dict, evaluation: pa.Table) -> None:
        """A span's statistics and eval rows, written aside and renamed into place whole."""
        folder = os.path.join(self.folder, name)
        tmp = os.path.join(self.folder, f".tmp-{name}")
        if os.path.exists(tmp):
            tf.io.gfile.rmtree(tmp)
        os.makedirs(tmp)
        save_arrays(os.path.join(tmp, "arrays.npz"), arrays)
        pq.write_table(evaluation, os.path.join(tmp, EVAL_ROWS))
        write_json(os.path.join(tmp, "stats.json"), stats)
        if os.path.exists(folder):
            remove_aside(folder)
        os.rename(tmp, folder)

    def eval_rows(self, spans: list[str], max_rows: int) -> dict[str, np.ndarray]:
        """Raw eval rows of `spans` (the stable split, saved when each span was checked), newest spans first,
        capped at `max_rows` for speed: when the cap bites, it is the oldest spans' rows that are left out."""
        tables = [pq.read_table(os.path.join(self.folder, s, EVAL_ROWS)) for s in reversed(spans)]
        table = pa.concat_tables([t for t in tables if t.num_rows]).slice(0, max_rows)
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
