"""Up-front checks of the inputs, before any pipeline starts.

A job that dies an hour in on a renamed column wastes the hour.  These
checks read only headers and metadata and fail at once with a message that
names the file and the column.
"""

from __future__ import annotations

import difflib

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from features.errors import InputError
from beam_jobs.layouts import InputLayout, TableFormat
from beam_jobs.parse import read_header
from features.spec import Column, FeatureSpec


def check_inputs(spec: FeatureSpec, layout: InputLayout) -> None:
    """Every input file exists, has rows, and has the columns the spec reads."""
    needed_main = spec.main_columns
    for fmt in layout.main:
        if fmt.kind != "bigquery":  # BigQuery checks its own table and schema when the job reads it
            _check_table(fmt, needed_main)
    if spec.join:
        side = layout.side_tables.get(spec.join.table or "join")
        if side is None or not FileSystems.exists(side.table.path):
            where = side.table.path if side else spec.join.table
            raise InputError(f"Side table {where} is missing: spec {spec.path} joins it on {spec.join.key}.")
        if not side.genre_flags:  # ml-100k builds its genres column from flags
            _check_table(side.table, (spec.column(spec.join.key), *spec.joined_columns))


def _check_table(fmt: TableFormat, columns: tuple[Column, ...]) -> None:
    if not FileSystems.exists(fmt.path):
        raise InputError(f"Input file {fmt.path} does not exist.")
    size = FileSystems.match([fmt.path])[0].metadata_list[0].size_in_bytes
    if size == 0:
        raise InputError(f"Input file {fmt.path} is empty (0 bytes).")
    if fmt.kind == "parquet":
        with FileSystems.open(fmt.path) as f:
            meta = pq.ParquetFile(f).metadata
        _check_columns(fmt.path, tuple(meta.schema.names), columns)
        if meta.num_rows == 0:
            raise InputError(f"Input file {fmt.path} has no rows.")
        return
    names, header_bytes = read_header(fmt)
    if fmt.header and _looks_like_data(names):
        raise InputError(
            f"Input file {fmt.path} has no header line: its first line starts with values "
            f"({', '.join(names[:4])}). Add a header naming the columns ({', '.join(c.name for c in columns)}), "
            f"or set source.header: false in the spec.")
    _check_columns(fmt.path, names, columns)
    if header_bytes and size <= header_bytes + 1:
        raise InputError(f"Input file {fmt.path} has a header but no rows.")


def _looks_like_data(names: tuple[str, ...]) -> bool:
    def is_number(text: str) -> bool:
        try:
            float(text)
            return True
        except ValueError:
            return False

    return bool(names) and all(is_number(n) for n in names if n)


def _check_columns(path: str, present: tuple[str, ...], columns: tuple[Column, ...]) -> None:
    missing = [c.name for c in columns if c.name not in present]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, present, n=1, cutoff=0.6)
        if close:
            hints.append(f"'{name}' may have been renamed to '{close[0]}'")
    hint = f" ({'; '.join(hints)})" if hints else ""
    raise InputError(f"Input file {path} lacks column(s) {', '.join(missing)}{hint}. It has: {', '.join(present)}. "
                     f"Rename the columns in the file or in the spec.")
