"""Up-front checks of the inputs, before any pipeline starts.

A job that dies an hour in on a renamed column wastes the hour.  These
checks read only headers and metadata and fail at once with a message that
names the file and the column.
"""

from __future__ import annotations

import difflib

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from stage_contracts.errors import InputError
from beam_jobs.layouts import InputLayout, TableFormat
from beam_jobs.parse import column_positions, read_header, read_parquet, shown_names
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
        num_rows, schema = read_parquet(fmt.path, lambda f: (f.metadata.num_rows, f.schema_arrow))
        _check_columns(fmt.path, tuple(schema.names), columns)
        for column in columns:
            _check_parquet_type(fmt.path, column, schema.field(column.name).type)
        if num_rows == 0:
            raise InputError(f"Input file {fmt.path} has no rows.")
        return
    header = read_header(fmt)
    if fmt.header and _looks_like_data(header.columns):
        raise InputError(
            f"Input file {fmt.path} has no header line: its first line starts with values "
            f"({shown_names(header.columns[:4])}). Add a header naming the columns "
            f"({', '.join(c.name for c in columns)}), or set source.header: false in the spec.")
    _check_columns(fmt.path, header.columns, columns)
    if header.data_start and size <= header.data_start + 1:
        raise InputError(f"Input file {fmt.path} has a header but no rows.")


def _check_parquet_type(path: str, column: Column, arrow_type: pa.DataType) -> None:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    readable = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_null,
                pa.types.is_decimal, pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                pa.types.is_large_binary)
    if not any(is_type(arrow_type) for is_type in readable):
        raise InputError(f"Input file {path}: column {column.name} holds values of type {arrow_type}, which "
                         f"cannot be read as {column.type}. Store it as a number or a string.")


def _looks_like_data(names: tuple[str, ...]) -> bool:
    def is_number(text: str) -> bool:
        try:
            float(text)
            return True
        except ValueError:
            return False

    return bool(names) and all(is_number(n) for n in names if n)


def _check_columns(path: str, present: tuple[str, ...], columns: tuple[Column, ...]) -> None:
    """Every column the spec reads is in the file once; a missing one comes with the file column it may now be."""
    missing = [c.name for c in columns if c.name not in present]
    if missing:
        hints = [f"'{name}' may have been renamed to {_quoted(new)}" for name, new in renamed(missing, present, columns)]
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise InputError(f"Input file {path} lacks column(s) {', '.join(missing)}{hint}. It has: "
                         f"{shown_names(present)}. Rename the columns in the file or in the spec.")
    column_positions(path, present, columns)  # a column named twice


def renamed(missing: list[str], present: tuple[str, ...], columns: tuple[Column, ...]) -> list[tuple[str, str]]:
    """Pairs (missing spec column, file column it was probably renamed to), each file column used at most once.

    Only file columns the spec does not read are candidates (a column the
    spec finds is not a renamed one).  Names are compared ignoring case and
    punctuation (movie_id ~ movieId); the closest pairs are matched first.
    """
    read = {c.name for c in columns}
    candidates = [name for name in dict.fromkeys(present) if name not in read]
    scored = []
    for name in missing:
        for candidate in candidates:
            score = difflib.SequenceMatcher(None, _normal(name), _normal(candidate)).ratio()
            if score >= 0.6:
                scored.append((-score, missing.index(name), candidate, name))
    pairs, used_missing, used_present = [], set(), set()
    for _, _, candidate, name in sorted(scored):
        if name not in used_missing and candidate not in used_present:
            pairs.append((name, candidate))
            used_missing.add(name)
            used_present.add(candidate)
    return sorted(pairs, key=lambda pair: missing.index(pair[0]))


def _quoted(name: str) -> str:
    shown = shown_names((name,))
    return f"'{name}'" if shown == name else shown


def _normal(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())
