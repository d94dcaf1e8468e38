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

Data without a quote character (or a format without quoting) is cut at
line ends with numpy; data holding quotes goes through `csv.reader`.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
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


def needs_csv(data: bytes, quoted: bool) -> bool:
    """Whether quote rules can change where records end in `data`."""
    return quoted and QUOTE in data


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
    """The records of `data`, which starts at a record boundary and does not end inside a CRLF."""
    starts, stops, ends = line_spans(data)
    if not needs_csv(data, quoted):
        keep = np.flatnonzero(stops > starts)
        return Records(starts[keep], stops[keep], ends[keep], keep)
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
    if records.fields is not None:
        fields = [f.encode("latin-1") for f in records.fields[0]]
    else:
        fields = body[records.start[0]:records.stop[0]].split(delimiter.encode())
    return fields, bom + end, count_line_ends(body, end)


def plan_ranges(f: BinaryIO, delimiter: str, quoted: bool, start: int, line: int,
                chunk_bytes: int) -> Iterator[tuple[int, int, int]]:
    """Cut a file from `start` into (start, end, first line) ranges of about `chunk_bytes`, at record ends.

    Quote-free data is cut at its last line end.  From the first block that
    holds a quote on, the rest of the file streams through `csv.reader` so
    that no cut falls inside a quoted field.
    """
    f.seek(start)
    carry = b""
    while True:
        block = f.read(chunk_bytes)
        data = carry + block
        if not block:
            if data:
                yield start, start + len(data), line
            return
        if needs_csv(data, quoted):
            yield from _plan_with_csv(f, delimiter, start, line, chunk_bytes)
            return
        cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
        if cut == 0:  # no line end yet: the record goes on
            carry = data
            continue
        yield start, start + cut, line
        line += count_line_ends(data, cut)
        start, carry = start + cut, data[cut:]


def _plan_with_csv(f: BinaryIO, delimiter: str, start: int, line: int,
                   chunk_bytes: int) -> Iterator[tuple[int, int, int]]:
    f.seek(start)
    text = io.TextIOWrapper(f, encoding="latin-1", newline="")  # one character per byte
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for physical in text:
            consumed += len(physical)
            yield physical

    reader = csv.reader(lines(), **csv_options(delimiter))
    chunk_start, chunk_line = 0, 0
    for _ in reader:
        if consumed - chunk_start >= chunk_bytes:
            yield start + chunk_start, start + consumed, line + chunk_line
            chunk_start, chunk_line = consumed, reader.line_num
    if consumed > chunk_start:
        yield start + chunk_start, start + consumed, line + chunk_line
    text.detach()
