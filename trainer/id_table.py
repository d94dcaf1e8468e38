"""The train split's id columns read from preprocess's id table instead of its TFRecords.

A ratings model's preparation (user histories, per-id counts, the bias
baseline, retrieval's item shares) needs the user id, item id and label of
every train example.  Preprocess writes them, with each row's key, as
Parquet shards (beam_jobs/id_table.py); reading those columns a row group
at a time skips parsing every record, and the arrays are filled in place
(one allocation per column for the whole split), so memory stays at what
the preparation keeps.  The validation slice is dropped from the fit part
by the same keyed hash of the row key as the record input uses
(trainer/data.py `in_validation`), so histories never hold a validation
item and both inputs give the same parts.

A preprocess output written before the table existed has none in its
manifest; its preparation parses the records as before (`IdTable.of`
returns None).
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import tensorflow as tf

from stage_contracts import manifest as mf
from stage_contracts.errors import OutputError
from trainer.data import in_validation

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class IdTable:
    """The id table's shards, the columns it holds besides the row key, its rows, and the seed of the validation
    slice to drop from the fit part (None: the split is not cut, every row is in the fit part)."""

    files: tuple[str, ...]
    columns: tuple[str, ...]
    rows: int
    fold_seed: int | None

    @classmethod
    def of(cls, output_dir: str, manifest: dict, fold_seed: int | None) -> "IdTable | None":
        """The table a preprocess output lists, or None (no ids in its spec, or written before the table)."""
        entry = manifest.get("id_table")
        if not entry:
            return None
        files = tuple(sorted(tf.io.gfile.glob(mf.id_table_pattern(output_dir))))
        if not files:
            raise OutputError(f"The manifest of {output_dir} lists an id table, but there are no "
                              f"{mf.id_table_pattern(output_dir)} shards. Rerun preprocess with --overwrite.")
        return cls(files, tuple(c for c in entry["columns"] if c != mf.ROW_KEY), int(entry["rows"]), fold_seed)

    def holds(self, keys: tuple[str, ...], label_key: str) -> bool:
        return set(keys) | {label_key} <= set(self.columns)

    def read(self, keys: tuple[str, ...], label_key: str) -> dict[str, dict[str, np.ndarray]]:
        """The `keys` columns and "label" of "fit", "validation" and "train" (both), read a row group at a time.

        Fit rows fill each column from the front and validation rows from
        the back of one array per column, so all three parts are views of
        it and nothing is copied or concatenated afterwards.
        """
        names = (*keys, label_key)
        columns: dict[str, np.ndarray] = {}
        fit_end, validation_start = 0, self.rows
        for path in self.files:
            with _open(path) as file:
                fit_end, validation_start = self._fill(columns, pq.ParquetFile(file), names, fit_end,
                                                       validation_start, path)
        if fit_end != validation_start:
            raise OutputError(self._miscounted(self.files[0], "fewer"))
        log.info("Read the train split's ids from the id table: %d fit rows, %d in the validation slice", fit_end,
                 self.rows - fit_end)
        named = {("label" if name == label_key else name): column for name, column in columns.items()}
        return {part: {name: column[rows] for name, column in named.items()}
                for part, rows in (("fit", slice(0, fit_end)), ("validation", slice(fit_end, None)),
                                   ("train", slice(None)))}

    def _fill(self, columns: dict[str, np.ndarray], parquet: pq.ParquetFile, names: tuple[str, ...], fit_end: int,
              validation_start: int, path: str) -> tuple[int, int]:
        """One shard's rows into `columns`, a row group at a time: fit rows at `fit_end` onwards, validation rows
        before `validation_start`; returns both ends moved past them."""
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=[*names, mf.ROW_KEY])
            held = (in_validation(tf.constant(table.column(mf.ROW_KEY).to_numpy()), self.fold_seed).numpy()
                    if self.fold_seed is not None else np.zeros(table.num_rows, bool))
            n_fit, n_held = table.num_rows - int(held.sum()), int(held.sum())
            if fit_end + n_fit > validation_start - n_held:
                raise OutputError(self._miscounted(path, "more"))
            for name in names:
                values = table.column(name).to_numpy()
                if name not in columns:
                    columns[name] = np.empty(self.rows, values.dtype)
                columns[name][fit_end:fit_end + n_fit] = values[~held]
                columns[name][validation_start - n_held:validation_start] = values[held]
            fit_end += n_fit
            validation_start -= n_held
        return fit_end, validation_start

    def _miscounted(self, path: str, how: str) -> str:
        return (f"The id table {os.path.dirname(path)} holds {how} than the {self.rows} rows its manifest says. "
                f"Rerun preprocess with --overwrite.")


def _open(path: str):
    """A random-access file for pyarrow, local or remote (gs://): row groups are read where they lie."""
    if "://" in path:
        filesystem, inner = pafs.FileSystem.from_uri(path)
    else:
        filesystem, inner = pafs.LocalFileSystem(), path
    return filesystem.open_input_file(inner)
