"""What one record of a delimited file is, defined once for reading headers, planning chunks and parsing.

Counting rows, cutting a file into chunks and naming a bad row's line must
all agree, or rows get counted twice and rejected rows point at their
neighbours.  So there is one definition, Python's `csv` module's (a file
opened with newline=''), and everything here either runs that reader or,
where it cannot differ, a vectorised equivalent:

- a line ends at LF, CRLF or a lone CR;
- with quoting, a field that starts with '"' runs to its closing quote,
  across line ends ('""' inside it is a quote); a quote anywhere else is
  data; a quote never closed runs to the end of the file;
- a record is the text up to a line end outside quotes; a blank line (no
  characters at all) is not a record: it is neither counted nor rejected;
- a record's line number is the 1-based line it starts on.

Data without quote characters (or in a format without quoting) is cut at
line ends with numpy.  Data whose quotes are all well formed (RFC 4180:
each quoted field is whole, "" inside) is cut at line ends outside quotes,
found from the parity of the quotes before them: there every CSV reader
agrees with `csv`.  Anything else goes through `csv.reader` itself.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import functools
import io
import re
from typing import BinaryIO, Iterator

import numpy as np

QUOTE = b'"'
MAX_HEADER_BYTES = 1 << 20  # a "header" longer than this is not a header: the file is not a table
csv.field_size_limit(2**31 - 1)  # a huge field is one bad record, not a reader error


@dataclasses.dataclass(frozen=True)
class Records:
    """The records of a byte range, in order: where each starts and ends, and its line."""

    start: np.ndarray  # offset of the record's first byte
    stop: np.ndarray  # offset just past its text (its line end excluded)
    end: np.ndarray  # offset just past its line end
    line: np.ndarray  # 0-based line it starts on, counted from the range's start
    fields: list[list[str]] | None = None  # csv's fields (bytes as Latin-1 text) when quotes were parsed

    def __len__(self) -> int:
        return len(self.start)


def csv_options(delimiter: str) -> dict:
    """The csv module's settings for a quoted file: RFC 4180 quotes, lenient like most readers."""
    return dict(delimiter=delimiter, quotechar='"', doublequote=True, quoting=csv.QUOTE_MINIMAL, strict=False,
                skipinitialspace=False, escapechar=None)


def has_quotes(data: bytes, quoted: bool) -> bool:
    """Whether quote rules apply to `data` at all."""
    return quoted and QUOTE in data


@functools.lru_cache(maxsize=None)
def _well_formed_records(delimiter: str) -> re.Pattern:
    """Records whose quoted fields are whole (a field is "..." with "" inside, or has no quote), each ended."""
    d = re.escape(delimiter.encode())
    unquoted = rb'[^"\r\n' + d + rb"]*+" if len(delimiter) == 1 else rb"(?:(?!" + d + rb')[^"\r\n])*+'
    field = rb'(?:"(?:[^"]++|"")*+"|' + unquoted + rb")"
    return re.compile(rb"(?:" + field + rb"(?:" + d + field + rb")*+(?:\r\n|\n|\r))*+")


def well_formed_prefix(data: bytes, delimiter: str) -> int:
    """The length of the longest run of whole, well-formed records at the start of `data`.

    A CR as the last byte is not taken as a line end: its LF may follow.
    """
    body = data[:-1] if data.endswith(b"\r") else data
    return _well_formed_records(delimiter).match(body).end()


def _is_well_formed(data: bytes, delimiter: str) -> bool:
    end = well_formed_prefix(data + b"\n", delimiter)  # the last record may lack its line end
    return end >= len(data)


def line_spans(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each physical line's (start, stop before its line end, end after it)."""
    a = np.frombuffer(data, np.uint8)
    n = len(a)
    ends = np.flatnonzero(a == 10) + 1
    cr = np.flatnonzero(a == 13)
    if len(cr):
        lone = cr[(cr + 1 == n) | (a[np.minimum(cr + 1, n - 1)] != 10)]
        if len(lone):
            ends = np.sort(np.concatenate([ends, lone + 1]))
    if n and (not len(ends) or ends[-1] < n):
        ends = np.append(ends, n)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    if not n:
        return starts[:0], ends, ends
    last = a[ends - 1]
    newline = (last == 10) | (last == 13)
    crlf = (last == 10) & (ends - starts >= 2) & (a[np.maximum(ends - 2, 0)] == 13)
    return starts, ends - newline - crlf, ends


def count_line_ends(data: bytes, stop: int) -> int:
    """Line ends in data[:stop] (LF, CRLF, lone CR), where data[:stop] does not end inside a CRLF."""
    lone_cr = data.count(b"\r", 0, stop)
    if lone_cr:
        lone_cr -= data.count(b"\r\n", 0, stop)
    return data.count(b"\n", 0, stop) + lone_cr


def find_records(data: bytes, delimiter: str, quoted: bool) -> Records:
    """The records of `data`, which starts at a record boundary and does not end inside a CRLF.

    `fields` is set only when `csv.reader` had to decide (quotes that are not
    well formed); otherwise records hold no quotes, or only whole quoted fields.
    """
    starts, stops, ends = line_spans(data)
    if has_quotes(data, quoted):
        if not _is_well_formed(data, delimiter):
            return _records_by_csv(data, delimiter, starts, stops, ends)
        quotes = quote_positions(data)
        closed = np.searchsorted(quotes, stops) % 2 == 0  # an even number of quotes before it: a record ends
        closed[-1] = True
        last = np.flatnonzero(closed)
        first = np.concatenate([[0], last[:-1] + 1])
        keep = (stops[last] > starts[first]) | (last > first)
        first, last = first[keep], last[keep]
        return Records(starts[first], stops[last], ends[last], first)
    keep = np.flatnonzero(stops > starts)
    return Records(starts[keep], stops[keep], ends[keep], keep)


def quote_positions(data: bytes) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(data, np.uint8) == QUOTE[0])


def _records_by_csv(data: bytes, delimiter: str, starts: np.ndarray, stops: np.ndarray,
                    ends: np.ndarray) -> Records:
    reader = csv.reader(io.StringIO(data.decode("latin-1"), newline=""), **csv_options(delimiter))
    first, last, fields = [], [], []
    consumed = 0
    for row in reader:
        if row:
            first.append(consumed)
            last.append(reader.line_num - 1)
            fields.append(row)
        consumed = reader.line_num
    first_lines, last_lines = np.array(first, dtype=np.int64), np.array(last, dtype=np.int64)
    return Records(starts[first_lines], stops[last_lines], ends[last_lines], first_lines, fields)


class HeaderTooLong(Exception):
    """The first record does not end within the bytes given."""


def split_header(head: bytes, delimiter: str, quoted: bool, whole_file: bool) -> tuple[list[bytes], int, int] | None:
    """The first record of `head` as raw fields, the offset after it and the line ends up to there.

    None when `head` holds no record; HeaderTooLong when the record may go
    on past `head` (which is not the whole file).  A UTF-8 byte-order mark
    is not part of the first column's name.
    """
    bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    body = head[bom:]
    records = find_records(body, delimiter, quoted)
    if not len(records):
        return None
    end = int(records.end[0])
    if end == len(body) and not whole_file:
        raise HeaderTooLong()
    text = body[records.start[0]:records.stop[0]]
    if has_quotes(text, quoted):
        row = next(csv.reader(io.StringIO(text.decode("latin-1"), newline=""), **csv_options(delimiter)))
        fields = [f.encode("latin-1") for f in row]
    else:
        fields = text.split(delimiter.encode())
    return fields, bom + end, count_line_ends(body, end)


def plan_ranges(f: BinaryIO, delimiter: str, quoted: bool, start: int, line: int,
                chunk_bytes: int) -> Iterator[tuple[int, int, int]]:
    """Cut a file from `start` into (start, end, first line) ranges of about `chunk_bytes`, at record ends.

    A block is cut after its last line end, or with quotes after its last
    whole well-formed record.  Where quotes leave no such cut (a quoted
    field longer than a block, or quotes that are not well formed),
    `csv.reader` reads on to the first record end past `chunk_bytes`.
    """
    f.seek(start)
    data = b""
    while True:
        block = f.read(chunk_bytes)
        data += block
        if not block:
            if data:
                yield start, start + len(data), line
            return
        if has_quotes(data, quoted):
            cut = well_formed_prefix(data, delimiter)
            if cut == 0:
                end, lines = _csv_range(f, delimiter, start, chunk_bytes)
                yield start, end, line
                start, line, data = end, line + lines, b""
                f.seek(start)
                continue
        else:
            cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
            if cut == 0:  # no line end yet: the record goes on
                continue
        yield start, start + cut, line
        line += count_line_ends(data, cut)
        start, data = start + cut, data[cut:]


def _csv_range(f: BinaryIO, delimiter: str, start: int, chunk_bytes: int) -> tuple[int, int]:
    """The end of the first record that ends `chunk_bytes` or more past `start`, and the lines up to it."""
    f.seek(start)
    text = io.TextIOWrapper(f, encoding="latin-1", newline="")  # one character per byte
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for physical in text:
            consumed += len(physical)
            yield physical

    reader = csv.reader(lines(), **csv_options(delimiter))
    for _ in reader:
        if consumed >= chunk_bytes:
            break
    text.detach()
    return start + consumed, reader.line_num
