"""Cut input files into chunks, parse them into Arrow, and set bad rows aside with a reason.

Work moves in large pieces: a chunk is a byte range of a delimited file cut
at record ends (or a Parquet row group), parsed with pyarrow in one call.
What a record is (line ends, quotes, blank lines) is decided in
`beam_jobs.records`, once for planning, counting and reading.  Validation is
vectorised over whole columns; only rejected rows are touched one by one, to
write their reason.  Every record of a chunk ends up either in the returned
batch or in the rejected list, so rows read = rows kept + rows rejected
holds by construction.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
from typing import Callable, Iterator, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from stage_contracts.errors import InputError
from beam_jobs.layouts import TableFormat
from beam_jobs.records import (MAX_HEADER_BYTES, HeaderTooLong, Records, find_records, has_quotes, plan_ranges,
                               quote_positions, split_header)
from features.spec import Column

T = TypeVar("T")
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
    """A byte range [start, end) of a file, cut at record ends, whose first line is `first_line` (1-based)."""

    path: str
    start: int
    end: int
    first_line: int
    file_columns: tuple[str, ...]
    row_group: int | None = None  # Parquet: the row group instead of a byte range


@dataclasses.dataclass(frozen=True)
class Header:
    """A file's column names, the offset where its data starts, and that spot's line number."""

    columns: tuple[str, ...]
    data_start: int
    first_line: int


def rejection(source: str, line: int, raw: str, reason: str, detail: str) -> dict:
    """One rejected row, as written to rejected/*.jsonl."""
    return {"source": source, "line": line, "raw": raw, "reason": reason, "detail": detail}


def read_header(fmt: TableFormat) -> Header:
    """The file's column names (its first record, or the layout's names) and where its data starts."""
    _check_encoding(fmt)
    with FileSystems.open(fmt.path) as f:
        head = f.read(MAX_HEADER_BYTES + 1)
    if fmt.file_columns is not None and not fmt.header:  # a byte-order mark is not data
        return Header(fmt.file_columns, len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0, 1)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"Input file {fmt.path} is UTF-16 text (it starts with a UTF-16 byte-order mark). "
                         f"Save it as UTF-8, or as {fmt.encoding} as the spec's source.encoding says.")
    try:
        found = split_header(head, fmt.delimiter, fmt.quoted, whole_file=len(head) <= MAX_HEADER_BYTES)
    except HeaderTooLong:
        raise InputError(f"Input file {fmt.path} is not a delimited text table: its first line does not end "
                         f"within {MAX_HEADER_BYTES >> 20} MiB, so it cannot be a header.") from None
    if found is None:
        raise InputError(f"Input file {fmt.path} is empty: expected a header line naming its columns.")
    fields, data_start, line_ends = found
    if any(b"\x00" in field for field in fields):
        raise InputError(f"Input file {fmt.path} is not a {fmt.encoding} text table: its header line holds NUL "
                         f"bytes (a binary file, or UTF-16/UTF-32 text). Save it as {fmt.encoding} text.")
    names = tuple(field.decode(fmt.encoding, errors="replace").strip() for field in fields)
    return Header(names, data_start, line_ends + 1)


def _check_encoding(fmt: TableFormat) -> None:
    """The reader cuts bytes at ASCII delimiters, quotes and line ends: the encoding must keep those as is."""
    probe = f"\r\n\"{fmt.delimiter}azAZ09"
    if probe.encode(fmt.encoding, errors="replace") != probe.encode("ascii"):
        raise InputError(f"Input file {fmt.path}: encoding {fmt.encoding} is not supported, as its delimiters "
                         f"and line ends are not single ASCII bytes. Save the file as UTF-8 and set "
                         f"source.encoding: utf-8.")


def plan_chunks(fmt: TableFormat, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[Chunk]:
    """Cut a file into chunks at record ends, counting lines so rejected rows get their line number."""
    if fmt.kind == "parquet":
        meta, names = read_parquet(fmt.path, lambda f: (f.metadata, tuple(f.schema_arrow.names)))
        offset = 1
        for group in range(meta.num_row_groups):
            yield Chunk(fmt.path, 0, 0, offset, names, row_group=group)
            offset += meta.row_group(group).num_rows
        return
    header = read_header(fmt)
    with FileSystems.open(fmt.path) as f:
        for start, end, line in plan_ranges(f, fmt.delimiter, fmt.quoted, header.data_start, header.first_line,
                                            chunk_bytes):
            yield Chunk(fmt.path, start, end, line, header.columns)


def read_parquet(path: str, read: Callable[[pq.ParquetFile], T]) -> T:
    """`read` applied to the opened Parquet file; a corrupt file is an input error, not a crash."""
    try:
        with FileSystems.open(path) as f:
            return read(pq.ParquetFile(f))
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"Input file {path} is not a readable Parquet file: {e}") from None


def read_chunk_bytes(chunk: Chunk) -> bytes:
    with FileSystems.open(chunk.path) as f:
        f.seek(chunk.start)
        return f.read(chunk.end - chunk.start)


def parse_chunk(chunk: Chunk, fmt: TableFormat, columns: tuple[Column, ...],
                data: bytes | None = None) -> tuple[pa.RecordBatch, list[dict]]:
    """Parse and validate one chunk: typed rows of `columns`, and the rejected rows."""
    positions = column_positions(chunk.path, chunk.file_columns, columns)
    if chunk.row_group is not None:
        table = read_parquet(chunk.path, lambda f: f.read_row_group(chunk.row_group, columns=[
            chunk.file_columns[p] for p in positions]))
        lines = np.arange(table.num_rows) + chunk.first_line
        return validate_table(table, lines, columns, chunk.path, None, chunk.first_line, [])
    data = read_chunk_bytes(chunk) if data is None else data
    table, lines, rejected, text = _parse_delimited(data, chunk, fmt, positions, columns)
    return validate_table(table, lines, columns, chunk.path, text, chunk.first_line, rejected)


def shown_names(names: tuple[str, ...], limit: int = 12) -> str:
    """Column names for a message: odd or long ones quoted and cut short, so junk cannot flood it."""
    def one(name: str) -> str:
        if name.isprintable() and len(name) <= 40:
            return name
        return repr(name[:40]) + ("..." if len(name) > 40 else "")

    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(one(n) for n in names[:limit]) + more


def column_positions(path: str, file_columns: tuple[str, ...], columns: tuple[Column, ...]) -> list[int]:
    """Where each of `columns` is in the file; a missing or twice-named column is an input error."""
    missing = [c.name for c in columns if c.name not in file_columns]
    if missing:
        raise InputError(
            f"Input file {path} lacks column(s) {', '.join(missing)}; it has "
            f"{shown_names(file_columns)}. Rename the columns in the file or in the spec.")
    twice = [c.name for c in columns if file_columns.count(c.name) > 1]
    if twice:
        raise InputError(f"Input file {path} names column(s) {', '.join(twice)} more than once in its header "
                         f"({shown_names(file_columns)}), so which one to read is unclear. Rename or drop the copies.")
    return [file_columns.index(c.name) for c in columns]


class RecordText:
    """The raw text of a chunk's records, by line offset from the chunk's first line; decoded on demand."""

    def __init__(self, data: bytes, records: Records, encoding: str, delimiter: bytes | None = None):
        self._data, self._records, self._encoding, self._delimiter = data, records, encoding, delimiter

    def __getitem__(self, line: int) -> str:
        i = int(np.searchsorted(self._records.line, line))
        raw = self._data[self._records.start[i]:self._records.stop[i]]
        if self._delimiter is not None:  # undo the stand-in for a multi-character delimiter
            raw = raw.replace(_ALT_DELIMITER.encode(), self._delimiter)
        return raw.decode(self._encoding, errors="replace")


def _parse_delimited(data: bytes, chunk: Chunk, fmt: TableFormat, positions: list[int],
                     columns: tuple[Column, ...]) -> tuple[pa.Table, np.ndarray, list[dict], RecordText]:
    """Binary columns of the chunk's well-formed records; records with a wrong field count are rejected."""
    delimiter = fmt.delimiter.encode()
    stand_in = len(delimiter) > 1 and _ALT_DELIMITER.encode() not in data
    if stand_in:  # one byte per delimiter, so fields can be counted and parsed by byte
        data = data.replace(delimiter, _ALT_DELIMITER.encode())
    records = find_records(data, _ALT_DELIMITER if stand_in else fmt.delimiter, fmt.quoted)
    text = RecordText(data, records, fmt.encoding, delimiter if stand_in else None)
    expected = len(chunk.file_columns)
    arrays, found = None, None
    if records.fields is None and (len(delimiter) == 1 or stand_in):
        arrays, found = _fields_with_arrow(data, records, _ALT_DELIMITER.encode() if stand_in else delimiter,
                                           expected, positions, has_quotes(data, fmt.quoted))
    if arrays is None:
        arrays, found = _fields_with_python(data, records, delimiter, expected, positions)
    good = found == expected
    rejected = [
        rejection(chunk.path, chunk.first_line + int(records.line[i]), text[int(records.line[i])],
                  WRONG_FIELD_COUNT, f"expected {expected} fields, found {int(found[i])}")
        for i in np.flatnonzero(~good)
    ]
    if fmt.encoding.lower().replace("-", "").replace("_", "") != "utf8":
        arrays = [_to_utf8(a, fmt.encoding) for a in arrays]
    table = pa.table(arrays, names=[c.name for c in columns])
    return table, records.line[good] + chunk.first_line, rejected, text


def _fields_with_arrow(data: bytes, records: Records, delimiter: bytes, expected: int, positions: list[int],
                       quotes: bool) -> tuple[list[pa.Array] | None, np.ndarray]:
    """Records without quotes, or with well-formed ones, parsed by pyarrow in one call.

    (None, ...) when pyarrow and `records` disagree.

    Most chunks are clean and parse at once.  Otherwise fields are counted
    with numpy and records with a wrong count are cut out of the bytes, so
    pyarrow never sees one (it would decode its text as UTF-8, and may not
    be able to).  A disagreement is never expected; the Python parser then
    decides.
    """
    found = np.full(len(records), expected, dtype=np.int64)
    arrays = _arrow_parse(data, delimiter, expected, positions, len(records), quotes)
    if arrays is not None:
        return arrays, found
    separators = np.flatnonzero(np.frombuffer(data, np.uint8) == delimiter[0])
    if quotes:  # a delimiter inside a (well-formed) quoted field has an odd number of quotes before it
        separators = separators[np.searchsorted(quote_positions(data), separators) % 2 == 0]
    found = np.searchsorted(separators, records.stop) - np.searchsorted(separators, records.start) + 1
    good = found == expected
    pieces, previous = [], 0
    for i in np.flatnonzero(~good):
        pieces.append(data[previous:records.start[i]])
        previous = records.end[i]
    pieces.append(data[previous:])
    return _arrow_parse(b"".join(pieces), delimiter, expected, positions, int(good.sum()), quotes), found


def _arrow_parse(body: bytes, delimiter: bytes, expected: int, positions: list[int], rows: int,
                 quotes: bool) -> list[pa.Array] | None:
    """The `positions` columns of `body` as binary arrays, if it parses into exactly `rows` rows."""
    if not rows:
        return [pa.array([], pa.binary()) for _ in positions]
    if body.startswith(codecs.BOM_UTF8):  # pyarrow would drop it as a byte-order mark; it is data here
        body = b"\n" + body
    names = [f"f{i}" for i in range(expected)]
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                           block_size=max(len(body) + 1, 1 << 20)),
            parse_options=pacsv.ParseOptions(delimiter=delimiter.decode("latin-1"),
                                             quote_char='"' if quotes else False, double_quote=True,
                                             newlines_in_values=quotes, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=[names[p] for p in positions],
                column_types={names[p]: pa.binary() for p in positions},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid:  # a row with a wrong field count
        return None
    if table.num_rows != rows:
        return None
    return [table.column(names[p]).combine_chunks() for p in positions]


def _fields_with_python(data: bytes, records: Records, delimiter: bytes, expected: int,
                        positions: list[int]) -> tuple[list[pa.Array], np.ndarray]:
    """Fields as csv found them (quoted data), or split at the delimiter (unquoted data)."""
    if records.fields is not None:  # csv's text, one character per byte: ASCII text is its own UTF-8
        rows = records.fields if data.isascii() else [[f.encode("latin-1") for f in row] for row in records.fields]
    else:
        rows = [data[s:e].split(delimiter) for s, e in zip(records.start, records.stop)]
    found = np.array([len(row) for row in rows], dtype=np.int64)
    good = [row for row in rows if len(row) == expected]
    return [pa.array([row[p] for row in good]).cast(pa.binary()) if good else pa.array([], pa.binary())
            for p in positions], found


def _to_utf8(arr: pa.Array, encoding: str) -> pa.Array:
    """Values of a single-byte-encoded file (ISO-8859-1) as UTF-8; ASCII-only columns are left as they are."""
    values = arr.buffers()[2]
    if values is None or not np.any(np.frombuffer(values, np.uint8) >= 0x80):
        return arr
    return pa.array([v.decode(encoding, errors="replace").encode() for v in arr.to_pylist()], pa.binary())


def validate_table(table: pa.Table, lines: np.ndarray, columns: tuple[Column, ...], source: str,
                   raw_lines: RecordText | None, first_line: int,
                   rejected: list[dict]) -> tuple[pa.RecordBatch, list[dict]]:
    """Check every column at once; return typed kept rows and add the others to `rejected`.

    `lines` holds each table row's line number; `raw_lines[line - first_line]`
    is the raw text of the row starting on `line` (without it, the row's values).
    """
    n = table.num_rows
    reason = np.zeros(n, dtype=np.int16)  # 0 = kept, else 1 + index into `reasons`
    reasons: list[tuple[str, str, str | None]] = []  # (reason, column, problem)
    typed = {}
    for column in columns:
        values, checks = _validate_column(table.column(column.name).combine_chunks(), column, source)
        typed[column.name] = values
        for name, mask, problem in checks:
            reasons.append((name, column.name, problem))
            reason[(reason == 0) & mask] = len(reasons)
    keep = reason == 0
    for row in np.flatnonzero(~keep):
        name, column, problem = reasons[reason[row] - 1]
        value = table.column(column)[int(row)].as_py()
        raw = raw_lines[int(lines[row]) - first_line] if raw_lines is not None else _row_text(table, int(row))
        detail = f"column {column} is empty" if problem is None else f"column {column}: {_shown(value)} {problem}"
        rejected.append(rejection(source, int(lines[row]), raw, name, detail))
    keep_arrow = pa.array(keep)
    arrays = [typed[c.name].filter(keep_arrow) for c in columns] + [pa.array(lines[keep], pa.int64())]
    batch = pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns] + [LINE_COLUMN])
    return batch, rejected


def _row_text(table: pa.Table, row: int) -> str:
    return ",".join("" if v is None else str(v) for v in (table.column(i)[row].as_py() for i in range(table.num_columns)))


def _shown(value, limit: int = 80) -> str:
    """A value for a message: its repr, cut short when long (the row's raw text has all of it)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(value)} {'bytes' if isinstance(value, bytes) else 'characters'})"


INT64_LIMITS = ("9223372036854775807", "9223372036854775808")  # |max|, |min| of a 64-bit integer


def _validate_column(arr: pa.Array, column: Column, source: str
                     ) -> tuple[pa.Array, list[tuple[str, np.ndarray, str | None]]]:
    """Typed values for one column and (reason, mask, problem) triples, in checking order.

    A problem is the text that follows the value in a rejected row's detail
    (None: the value is empty).
    """
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if _is_text(arr.type):
        values, checks = _validate_text(arr.cast(pa.binary()), column)
    else:  # already typed (Parquet)
        values, checks = _validate_typed(arr, column, source)
    none = np.zeros(len(arr), dtype=bool)
    out_of_range = none.copy()
    if column.min is not None:
        out_of_range |= _mask(pc.less(values, column.min))
    if column.max is not None:
        out_of_range |= _mask(pc.greater(values, column.max))
    lo = "-inf" if column.min is None else column.min
    hi = "inf" if column.max is None else column.max
    checks.append((OUT_OF_RANGE, out_of_range, f"is outside [{lo}, {hi}]"))
    return values, checks


def _is_text(arrow_type: pa.DataType) -> bool:
    return (pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type)
            or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _validate_text(arr: pa.Array, column: Column) -> tuple[pa.Array, list[tuple[str, np.ndarray, str | None]]]:
    """Values read as bytes: check the encoding (strings) or the number's syntax and size."""
    none = np.zeros(len(arr), dtype=bool)
    empty = _mask(pc.or_(pc.is_null(arr), pc.equal(pc.binary_length(arr), 0)))
    missing = empty if column.required else none
    if column.type == "string":
        bad_utf8 = _invalid_utf8(arr)
        values = pc.if_else(pa.array(bad_utf8 | empty), pa.scalar(None, pa.binary()), arr).cast(pa.string())
        return values, [(BAD_ENCODING, bad_utf8, "is not valid UTF-8"), (MISSING_VALUE, missing & ~bad_utf8, None)]
    pattern = _INT_PATTERN if column.type == "int" else _FLOAT_PATTERN
    ok = _mask(pc.match_substring_regex(arr, pattern))
    non_finite = none if column.type == "int" else _mask(pc.match_substring_regex(arr, _NON_FINITE_PATTERN))
    unparsable = ~ok & ~empty & ~non_finite
    text = pc.utf8_trim_whitespace(pc.if_else(pa.array(ok), arr, pa.scalar(b"0")).cast(pa.string()))
    text = pc.ascii_ltrim(text, "+")  # Arrow's casts take "-7" but not "+7"; the pattern allows one sign
    if column.type == "int":
        too_big = ok & _int64_overflow(text)
        ok &= ~too_big
        text = pc.if_else(pa.array(ok), text, pa.scalar("0"))
        too_big_problem = f"is outside the 64-bit integer range [-{INT64_LIMITS[1]}, {INT64_LIMITS[0]}]"
    values = pc.if_else(pa.array(ok), text.cast(ARROW_TYPES[column.type]), pa.scalar(None, ARROW_TYPES[column.type]))
    if column.type == "float":
        too_big = ok & ~_mask(pc.is_finite(values))  # e.g. 1e999: finite text, infinite as a 64-bit float
        values = pc.if_else(pa.array(too_big), pa.scalar(None, pa.float64()), values)
        too_big_problem = "is too large for a 64-bit float"
    return values, [(MISSING_VALUE, missing, None), (UNPARSABLE_NUMBER, unparsable, f"is not a valid {column.type}"),
                    (NOT_FINITE, non_finite, "is not a finite number"), (OUT_OF_RANGE, too_big, too_big_problem)]


def _int64_overflow(text: pa.Array) -> np.ndarray:
    """Which integer strings (sign and digits, trimmed) lie outside the 64-bit range."""
    if len(text) == 0 or pc.max(pc.utf8_length(text)).as_py() <= 18:
        return np.zeros(len(text), dtype=bool)
    digits = pc.replace_substring_regex(text, r"^[+-]?0*", "")
    length = pc.utf8_length(digits)
    limit = pc.if_else(pc.starts_with(text, "-"), pa.scalar(INT64_LIMITS[1]), pa.scalar(INT64_LIMITS[0]))
    return _mask(pc.or_(pc.greater(length, 19), pc.and_(pc.equal(length, 19), pc.greater(digits, limit))))


def _validate_typed(arr: pa.Array, column: Column, source: str
                    ) -> tuple[pa.Array, list[tuple[str, np.ndarray, str | None]]]:
    """Values that arrive typed (Parquet, BigQuery): cast, with what a cast cannot hold set aside."""
    target = ARROW_TYPES[column.type]
    none = np.zeros(len(arr), dtype=bool)
    empty = _mask(pc.is_null(arr))
    missing = (empty if column.required else none, None)
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type)
            or pa.types.is_null(arr.type) or pa.types.is_decimal(arr.type)):
        raise InputError(f"Input file {source}: column {column.name} holds values of type {arr.type}, which "
                         f"cannot be read as {column.type}. Store it as a number or a string.")
    if column.type == "string":
        values = arr.cast(pa.string())
        blank = _mask(pc.equal(pc.utf8_length(values), 0)) if column.required else none
        return values, [(MISSING_VALUE, missing[0] | blank, None)]
    as_float = arr.cast(pa.float64(), safe=False)
    non_finite = ~empty & ~_mask(pc.is_finite(as_float))
    checks = [(MISSING_VALUE, *missing), (NOT_FINITE, non_finite, "is not a finite number")]
    if column.type == "int":
        fraction = ~empty & ~non_finite & _mask(pc.not_equal(pc.floor(as_float), as_float))
        too_big = ~empty & ~non_finite & _mask(pc.greater_equal(pc.abs(as_float), 2.0**63))
        if pa.types.is_unsigned_integer(arr.type):  # exact: floats round 2**63 - 1 up
            too_big = ~empty & _mask(pc.greater(arr.cast(pa.uint64()), pa.scalar(2**63 - 1, pa.uint64())))
        bad = pa.array(non_finite | fraction | too_big)
        source_values = as_float if pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type) else arr
        values = pc.if_else(bad, pa.scalar(None, target), pc.if_else(bad, pa.scalar(0, source_values.type),
                                                                     source_values).cast(target, safe=False))
        checks += [(UNPARSABLE_NUMBER, fraction, "is not a valid int"),
                   (OUT_OF_RANGE, too_big, f"is outside the 64-bit integer range [-{INT64_LIMITS[1]}, {INT64_LIMITS[0]}]")]
    else:
        values = pc.if_else(pa.array(non_finite), pa.scalar(None, target), as_float)
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
