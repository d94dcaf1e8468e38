"""Cut input files into chunks, parse them into Arrow, and set bad rows aside with a reason.

Work moves in large pieces: a chunk is a line-aligned byte range of a
delimited file (or a Parquet row group), parsed with pyarrow in one call.
Validation is vectorised over whole columns; only rejected rows are touched
one by one, to write their reason.  Every physical line of a chunk ends up
either in the returned batch or in the rejected list, so
rows read = rows kept + rows rejected holds by construction.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from features.errors import InputError
from beam_jobs.layouts import TableFormat
from features.spec import Column

DEFAULT_CHUNK_BYTES = 16 << 20
LINE_COLUMN = "__line__"  # each kept row's line number, carried until the transform
_ALT_DELIMITER = "\x1f"  # stands in for a multi-character delimiter such as "::"
_INT_PATTERN = r"^\s*[+-]?\d+\s*$"
_FLOAT_PATTERN = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_NON_FINITE_PATTERN = r"^\s*[+-]?([Nn][Aa][Nn]|[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?)\s*$"
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}

# Reasons a row is set aside, in the order they are checked.
WRONG_FIELD_COUNT = "wrong_field_count"
BAD_ENCODING = "bad_encoding"
MISSING_VALUE = "missing_value"
UNPARSABLE_NUMBER = "unparsable_number"
NOT_FINITE = "not_finite"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_JOIN_KEY = "unknown_join_key"
DUPLICATE_KEY = "duplicate_key"


@dataclasses.dataclass(frozen=True)
class Chunk:
    """A line-aligned byte range [start, end) of a file whose first line is `first_line` (1-based)."""

    path: str
    start: int
    end: int
    first_line: int
    file_columns: tuple[str, ...]
    row_group: int | None = None  # Parquet: the row group instead of a byte range


def rejection(source: str, line: int, raw: str, reason: str, detail: str) -> dict:
    """One rejected row, as written to rejected/*.jsonl."""
    return {"source": source, "line": line, "raw": raw, "reason": reason, "detail": detail}


def read_header(fmt: TableFormat) -> tuple[tuple[str, ...], int]:
    """The file's column names and the byte length of its header line (0 when it has none)."""
    if fmt.file_columns is not None and not fmt.header:
        return fmt.file_columns, 0
    with FileSystems.open(fmt.path) as f:
        first = f.readline()
    if not first.strip():
        raise InputError(f"Input file {fmt.path} is empty: expected a header line naming its columns.")
    text = first.decode(fmt.encoding, errors="replace").rstrip("\r\n")
    names = next(csv.reader([text], delimiter=fmt.delimiter)) if fmt.quoted else text.split(fmt.delimiter)
    return tuple(n.strip().lstrip("\ufeff") for n in names), len(first)


def plan_chunks(fmt: TableFormat, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[Chunk]:
    """Cut a file into line-aligned chunks, counting lines so rejected rows get their line number."""
    if fmt.kind == "parquet":
        with FileSystems.open(fmt.path) as f:
            meta = pq.ParquetFile(f).metadata
        names = tuple(meta.schema.names)
        offset = 1
        for group in range(meta.num_row_groups):
            yield Chunk(fmt.path, 0, 0, offset, names, row_group=group)
            offset += meta.row_group(group).num_rows
        return
    columns, header_bytes = read_header(fmt)
    position, line = header_bytes, 2 if header_bytes else 1
    carry = b""
    with FileSystems.open(fmt.path) as f:
        start = position
        f.seek(position)
        while True:
            block = f.read(chunk_bytes)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # no newline yet: keep reading
                carry = data
                continue
            end = start + cut
            yield Chunk(fmt.path, start, end, line, columns)
            line += data.count(b"\n", 0, cut)
            start, carry = end, data[cut:]
        if carry:
            yield Chunk(fmt.path, start, start + len(carry), line, columns)


def read_chunk_bytes(chunk: Chunk) -> bytes:
    with FileSystems.open(chunk.path) as f:
        f.seek(chunk.start)
        return f.read(chunk.end - chunk.start)


def parse_chunk(chunk: Chunk, fmt: TableFormat, columns: tuple[Column, ...],
                data: bytes | None = None) -> tuple[pa.RecordBatch, list[dict]]:
    """Parse and validate one chunk: typed rows of `columns`, and the rejected rows."""
    if chunk.row_group is not None:
        with FileSystems.open(chunk.path) as f:
            table = pq.ParquetFile(f).read_row_group(chunk.row_group)
        raw_lines = None
        lines = np.arange(table.num_rows) + chunk.first_line
        rejected: list[dict] = []
    else:
        data = read_chunk_bytes(chunk) if data is None else data
        table, lines, rejected, raw_lines = _parse_delimited(data, chunk, fmt)
    _check_columns(chunk, columns)
    return validate_table(table, lines, columns, chunk.path, raw_lines, chunk.first_line, rejected)


def _check_columns(chunk: Chunk, columns: tuple[Column, ...]) -> None:
    missing = [c.name for c in columns if c.name not in chunk.file_columns]
    if missing:
        raise InputError(
            f"Input file {chunk.path} lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(chunk.file_columns)}. Rename the columns in the file or in the spec.")


def _parse_delimited(data: bytes, chunk: Chunk, fmt: TableFormat):
    delimiter = fmt.delimiter
    if len(delimiter) > 1:
        data = data.replace(delimiter.encode(), _ALT_DELIMITER.encode())
        delimiter = _ALT_DELIMITER
    bad: list[tuple[int, str, int]] = []

    def on_invalid(row) -> str:
        bad.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=list(chunk.file_columns), use_threads=False,
                                       block_size=max(len(data) + 1, 1 << 20)),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"' if fmt.quoted else False,
                                         ignore_empty_lines=False, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.binary() for c in chunk.file_columns},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    raw_lines = data.split(b"\n")
    total = table.num_rows + len(bad)
    bad_positions = np.array([number - 1 for number, _, _ in bad], dtype=np.int64)
    lines = np.delete(np.arange(total, dtype=np.int64), bad_positions) + chunk.first_line
    expected = len(chunk.file_columns)
    rejected = [
        rejection(chunk.path, chunk.first_line + number - 1, _decode(raw_lines[number - 1], fmt.encoding),
                  WRONG_FIELD_COUNT, f"expected {expected} fields, found {found}")
        for number, _, found in bad
    ]
    if fmt.encoding.lower().replace("-", "").replace("_", "") not in ("utf8",):
        table = _transcode(table, fmt.encoding)
        raw_lines = [line.decode(fmt.encoding, errors="replace").encode() for line in raw_lines]
    return table, lines, rejected, raw_lines


def _transcode(table: pa.Table, encoding: str) -> pa.Table:
    """Re-encode binary columns of a single-byte-encoded file (ISO-8859-1) as UTF-8."""
    cols = []
    for col in table.columns:
        values = col.to_pylist()
        cols.append(pa.array([None if v is None else v.decode(encoding).encode() for v in values], pa.binary()))
    return pa.Table.from_arrays(cols, names=table.column_names)


def _decode(raw: bytes, encoding: str) -> str:
    return raw.rstrip(b"\r").decode(encoding, errors="replace")


def validate_table(table: pa.Table, lines: np.ndarray, columns: tuple[Column, ...], source: str,
                   raw_lines: list[bytes] | None, first_line: int,
                   rejected: list[dict]) -> tuple[pa.RecordBatch, list[dict]]:
    """Check every column at once; return typed kept rows and add the others to `rejected`.

    `lines` holds each table row's line number; `raw_lines[0]` is line `first_line`.
    """
    n = table.num_rows
    reason = np.zeros(n, dtype=np.int16)  # 0 = kept, else 1 + index into `reasons`
    reasons: list[tuple[str, str]] = []  # (reason, column)
    typed = {}
    for column in columns:
        values, checks = _validate_column(table.column(column.name).combine_chunks(), column)
        typed[column.name] = values
        for name, mask in checks:
            reasons.append((name, column.name))
            reason[(reason == 0) & mask] = len(reasons)
    keep = reason == 0
    for row in np.flatnonzero(~keep):
        name, column = reasons[reason[row] - 1]
        value = table.column(column)[int(row)].as_py()
        shown = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
        raw = (_decode(raw_lines[int(lines[row]) - first_line], "utf-8")
               if raw_lines is not None else _row_text(table, int(row)))
        rejected.append(rejection(source, int(lines[row]), raw, name, _detail(name, column, shown, columns)))
    keep_arrow = pa.array(keep)
    arrays = [typed[c.name].filter(keep_arrow) for c in columns] + [pa.array(lines[keep])]
    batch = pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns] + [LINE_COLUMN])
    return batch, rejected


def _row_text(table: pa.Table, row: int) -> str:
    return ",".join("" if v is None else str(v) for v in (table.column(i)[row].as_py() for i in range(table.num_columns)))


def _detail(reason: str, column: str, value, columns: tuple[Column, ...]) -> str:
    spec = next(c for c in columns if c.name == column)
    if reason == MISSING_VALUE:
        return f"column {column} is empty"
    if reason == UNPARSABLE_NUMBER:
        return f"column {column}: {value!r} is not a valid {spec.type}"
    if reason == NOT_FINITE:
        return f"column {column}: {value!r} is not a finite number"
    if reason == OUT_OF_RANGE:
        lo = "-inf" if spec.min is None else spec.min
        hi = "inf" if spec.max is None else spec.max
        return f"column {column}: {value!r} is outside [{lo}, {hi}]"
    if reason == BAD_ENCODING:
        return f"column {column}: bytes {value!r} are not valid UTF-8"
    return f"column {column}: {value!r}"


def _validate_column(arr: pa.Array, column: Column) -> tuple[pa.Array, list[tuple[str, np.ndarray]]]:
    """Typed values for one column and (reason, mask) pairs, in checking order."""
    n = len(arr)
    none = np.zeros(n, dtype=bool)
    if pa.types.is_binary(arr.type) or pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.binary())
        empty = _mask(pc.or_(pc.is_null(arr), pc.equal(pc.binary_length(arr), 0)))
        missing = empty if column.required else none
        if column.type == "string":
            bad_utf8 = _invalid_utf8(arr)
            safe = pc.if_else(pa.array(bad_utf8 | empty), pa.scalar(None, pa.binary()), arr)
            values = safe.cast(pa.string())
            return values, [(BAD_ENCODING, bad_utf8), (MISSING_VALUE, missing & ~bad_utf8)]
        pattern = _INT_PATTERN if column.type == "int" else _FLOAT_PATTERN
        ok = _mask(pc.match_substring_regex(arr, pattern))
        non_finite = none if column.type == "int" else _mask(pc.match_substring_regex(arr, _NON_FINITE_PATTERN))
        unparsable = ~ok & ~empty & ~non_finite
        text = pc.utf8_trim_whitespace(pc.if_else(pa.array(ok), arr, pa.scalar(b"0")).cast(pa.string()))
        values = pc.if_else(pa.array(ok), text.cast(ARROW_TYPES[column.type]),
                            pa.scalar(None, ARROW_TYPES[column.type]))
        checks = [(MISSING_VALUE, missing), (UNPARSABLE_NUMBER, unparsable), (NOT_FINITE, non_finite)]
    else:  # already typed (Parquet)
        target = ARROW_TYPES[column.type]
        if column.type == "string":
            values = arr.cast(pa.string())
            empty = _mask(pc.or_(pc.is_null(values), pc.equal(pc.utf8_length(values), 0)))
            return values, [(MISSING_VALUE, empty if column.required else none)]
        empty = _mask(pc.is_null(arr))
        values = arr.cast(target, safe=False) if pa.types.is_floating(arr.type) and column.type == "int" else arr.cast(target)
        non_finite = none if column.type == "int" else _mask(pc.invert(pc.is_finite(values)))
        non_finite &= ~empty
        checks = [(MISSING_VALUE, empty if column.required else none), (NOT_FINITE, non_finite)]
    out_of_range = none.copy()
    if column.min is not None:
        out_of_range |= _mask(pc.less(values, column.min))
    if column.max is not None:
        out_of_range |= _mask(pc.greater(values, column.max))
    checks.append((OUT_OF_RANGE, out_of_range))
    return values, checks


def _mask(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, nulls counting as False."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _invalid_utf8(arr: pa.Array) -> np.ndarray:
    try:
        arr.cast(pa.string())
        return np.zeros(len(arr), dtype=bool)
    except pa.ArrowInvalid:
        out = np.zeros(len(arr), dtype=bool)
        for i, value in enumerate(arr.to_pylist()):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    out[i] = True
        return out
