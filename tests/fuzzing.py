"""Seeded corrupt inputs and the properties every read of them must have (used by tests and bench/fuzz.py).

A case is a MovieLens folder (ml-latest CSV, ml-1m "::" or ml-100k tabs and
pipes) whose rating file and/or side table went through a few seeded
mutations: byte edits, encodings, line endings, quotes, NUL, huge fields and
numbers, truncation, header changes, blank lines, binary junk.  `check_case`
reads it as the job does and compares with an independent reference: the
records Python's csv module finds (file opened with newline='').

Properties: the read either fails with a UserError (exit 2) whose message
is one paragraph, or it succeeds with every reference record read exactly
once (kept or rejected, never both), the rejected ones carrying their own
line and raw text, and the kept ones carrying their own values.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import random

import numpy as np

from stage_contracts.errors import UserError
from beam_jobs.layouts import detect_movielens
from beam_jobs.parse import LINE_COLUMN, WRONG_FIELD_COUNT, parse_chunk, plan_chunks, read_header
from beam_jobs.records import MAX_HEADER_BYTES
from retraining.span_stats import read_span
from features.spec import Column, load_spec

SPEC = load_spec("movielens")
RATINGS = (SPEC.column("userId"), SPEC.column("movieId"), SPEC.column("rating"), SPEC.column("timestamp"))
MOVIES = (SPEC.column("movieId"), SPEC.column("title"))
SPICY = [b"\r", b"\n", b"\r\n", b'"', b",", b"\x00", b"\xff", b"\xe9", b"\xc3", b"::", b"|", b"\t", b" ", b"",
         b"\xef\xbb\xbf", b"-", b"9", b"e", b"."]
NUMBERS = [b"99999999999999999999", b"-9223372036854775809", b"9223372036854775807", b"-9223372036854775808",
           b"1e999", b"-1e999", b"1e-999", b"0x10", b"+7", b" 5 ", b"nan", b"Infinity", b"1_000", b"\xd9\xa3",
           b"00000000000000000000000000001"]
TITLES = ["Toy Story (1995)", "Amélie (2001)", "Good, the Bad and the Ugly, The (1966)", 'Say "Cheese" (1999)',
          "Léon (1994)", "Seven (a.k.a. Se7en) (1995)", "Zoë|Pipe (2000)", "Tab\tTitle (1990)", "Line\nBreak (1980)"]


@dataclasses.dataclass
class Case:
    layout: str
    files: dict[str, bytes]
    chunk_bytes: int
    steps: list[str]

    def write(self, folder: str) -> None:
        for name, data in self.files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


def make_case(seed: int, huge: bool = True) -> Case:
    """A seeded corrupt MovieLens folder: 1-4 mutations on the ratings file, the side table or both."""
    rng = random.Random(seed)
    layout = rng.choice(["ml-latest"] * 4 + ["ml-1m", "ml-100k"])
    files = _valid_files(rng, layout)
    names = list(files)
    steps = []
    for _ in range(rng.randint(1, 4)):
        name = rng.choice(names[:1] * 3 + names[1:])
        mutation = rng.choice(MUTATIONS)
        if mutation is _huge and not huge:
            continue
        files[name] = mutation(rng, files[name], layout)
        steps.append(f"{name}:{mutation.__name__.strip('_')}")
    return Case(layout, files, rng.choice([16, 64, 300, 4096, 1 << 20]), steps)


def _valid_files(rng: random.Random, layout: str) -> dict[str, bytes]:
    movies = rng.sample(range(1, 60), rng.randint(3, 12))
    ratings = [(rng.randint(1, 30), rng.choice(movies + [999]), rng.choice(range(1, 11)) / 2,
                rng.randint(900_000_000, 1_000_000_000)) for _ in range(rng.randint(5, 60))]
    titles = {m: rng.choice(TITLES) for m in movies}
    if layout == "ml-latest":
        rows = ["userId,movieId,rating,timestamp"] + [f"{u},{m},{r},{t}" for u, m, r, t in ratings]
        side = ["movieId,title,genres"] + [f"{m},{_quote(titles[m])},Drama|Comedy" for m in movies]
        return {"ratings.csv": _lines(rows, "utf-8"), "movies.csv": _lines(side, "utf-8")}
    if layout == "ml-1m":
        rows = [f"{u}::{m}::{int(r + 0.5)}::{t}" for u, m, r, t in ratings]
        side = [f"{m}::{titles[m].replace(chr(10), ' ')}::Drama|Comedy" for m in movies]
        return {"ratings.dat": _lines(rows, "latin-1"), "movies.dat": _lines(side, "latin-1")}
    rows = [f"{u}\t{m}\t{int(r + 0.5)}\t{t}" for u, m, r, t in ratings]
    flags = "|".join(rng.choice("01") for _ in range(19))
    side = [f"{m}|{titles[m].replace(chr(10), ' ').replace('|', '/')}|01-Jan-1995||http://x|{flags}" for m in movies]
    return {"u.data": _lines(rows, "latin-1"), "u.item": _lines(side, "latin-1")}


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _lines(rows: list[str], encoding: str) -> bytes:
    return "".join(row + "\n" for row in rows).encode(encoding, errors="replace")


# --- mutations: (rng, file bytes, layout) -> file bytes -----------------------------------------------------

def _byte_edits(rng, data, layout):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randint(0, len(data))
        piece = rng.choice(SPICY) if rng.random() < 0.8 else bytes([rng.randrange(256)])
        how = rng.choice(["insert", "replace", "delete"])
        if how == "insert":
            data[at:at] = piece
        elif how == "replace":
            data[at:at + len(piece)] = piece
        else:
            del data[at:at + rng.randint(1, 3)]
    return bytes(data)


def _line_endings(rng, data, layout):
    ending = rng.choice([b"\r\n", b"\r", None])
    lines = data.split(b"\n")
    if ending is not None:
        return ending.join(lines)
    return b"".join(line + rng.choice([b"\n", b"\r\n", b"\r"]) for line in lines[:-1]) + lines[-1]


def _encoding(rng, data, layout):
    text = data.decode("utf-8", errors="replace") if layout == "ml-latest" else data.decode("latin-1")
    how = rng.choice(["latin-1", "utf-8", "utf-16", "utf-16-le", "bom", "cp1252"])
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    return text.encode(how, errors="replace")


def _quoting(rng, data, layout):
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        sep = b"," if layout == "ml-latest" else (b"::" if layout == "ml-1m" else b"\t")
        fields = lines[i].split(sep)
        j = rng.randrange(len(fields))
        how = rng.choice(["wrap", "newline", "unclosed", "inner", "doubled"])
        if how == "wrap":
            fields[j] = b'"' + fields[j].replace(b'"', b'""') + b'"'
        elif how == "newline":
            fields[j] = b'"' + fields[j] + rng.choice([b"\n", b"\r\n", b"\r", b"\n\n"]) + b'x"'
        elif how == "unclosed":
            fields[j] = b'"' + fields[j]
        elif how == "inner":
            fields[j] = fields[j][:1] + b'"' + fields[j][1:]
        else:
            fields[j] = b'"' + fields[j] + b'"x"'
        lines[i] = sep.join(fields)
    return b"\n".join(lines)


def _nul(rng, data, layout):
    data = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        at = rng.randint(0, len(data))
        data[at:at] = b"\x00" * rng.randint(1, 3)
    return bytes(data)


def _huge(rng, data, layout):
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    sep = b"," if layout == "ml-latest" else (b"::" if layout == "ml-1m" else (b"\t" if b"\t" in data else b"|"))
    fields = lines[i].split(sep)
    j = rng.randrange(len(fields))
    fields[j] = rng.choice([b"9" * (1 << 20), b"7" * 5000, b"x" * 300_000, b"1" * 400 + b".5", b"0." + b"0" * 5000 + b"1"])
    lines[i] = sep.join(fields)
    return b"\n".join(lines)


def _numbers(rng, data, layout):
    lines = data.split(b"\n")
    sep = b"," if layout == "ml-latest" else (b"::" if layout == "ml-1m" else (b"\t" if b"\t" in data else b"|"))
    for _ in range(rng.randint(1, 5)):
        i = rng.randrange(len(lines))
        fields = lines[i].split(sep)
        fields[rng.randrange(len(fields))] = rng.choice(NUMBERS)
        lines[i] = sep.join(fields)
    return b"\n".join(lines)


def _truncate(rng, data, layout):
    return data[:rng.randint(0, len(data))]


def _header(rng, data, layout):
    first, _, rest = data.partition(b"\n")
    names = first.split(b",")
    how = rng.choice(["duplicate", "reorder", "rename", "case", "drop", "extra", "quoted", "blank_before"])
    if how == "duplicate":
        names.insert(rng.randint(0, len(names)), rng.choice(names))
    elif how == "reorder":  # rows follow the new order, so nothing is wrong
        order = list(range(len(names)))
        rng.shuffle(order)
        rows = [row.split(b",") for row in rest.split(b"\n")]
        rows = [b",".join(row[k] for k in order) if len(row) == len(order) else b",".join(row) for row in rows]
        return b",".join(names[k] for k in order) + b"\n" + b"\n".join(rows)
    elif how == "rename":
        k = rng.randrange(len(names))
        names[k] = names[k] + b"s"
    elif how == "case":
        k = rng.randrange(len(names))
        names[k] = names[k].lower()
    elif how == "drop":
        return rest
    elif how == "extra":
        names.append(b"extra")
    elif how == "quoted":
        names = [b'"' + n + b'"' for n in names]
    else:
        return b"\n" * rng.randint(1, 3) + data
    return b",".join(names) + b"\n" + rest


def _binary(rng, data, layout):
    junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000)))
    how = rng.choice(["whole", "after_header", "middle", "end"])
    if how == "whole":
        return junk
    first, _, rest = data.partition(b"\n")
    if how == "after_header":
        return first + b"\n" + junk + b"\n" + rest
    if how == "middle":
        at = rng.randint(0, len(data))
        return data[:at] + junk + data[at:]
    return data + junk


def _blank_lines(rng, data, layout):
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 6)):
        lines.insert(rng.randint(1, len(lines)), rng.choice([b"", b"\r", b" ", b"\t", b",,,", b"\r\r"]))
    return b"\n".join(lines)


def _shuffle_lines(rng, data, layout):
    lines = data.split(b"\n")
    body = lines[1:]
    rng.shuffle(body)
    if body and rng.random() < 0.5:
        body.insert(rng.randrange(len(body)), lines[0])  # the header again, mid-file
    return b"\n".join(lines[:1] + body)


MUTATIONS = [_byte_edits, _byte_edits, _line_endings, _encoding, _quoting, _quoting, _nul, _huge, _numbers,
             _numbers, _truncate, _header, _binary, _blank_lines, _shuffle_lines]


# --- the reference and the properties -------------------------------------------------------------------------

@dataclasses.dataclass
class Record:
    line: int
    raw: bytes
    fields: list[bytes]


def reference_records(data: bytes, quoted: bool, delimiter: str) -> list[Record]:
    """The non-blank records Python's csv module finds, each with its first line, raw text and fields."""
    text = data.decode("latin-1")
    physical = io.StringIO(text, newline="").readlines()
    if quoted:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quoting=csv.QUOTE_NONE)
    out, consumed = [], 0
    for row in reader:
        if row:
            raw = "".join(physical[consumed:reader.line_num])
            raw = raw[:-2] if raw.endswith("\r\n") else raw[:-1] if raw.endswith(("\r", "\n")) else raw
            fields = ([f.encode("latin-1") for f in row] if quoted
                      else raw.encode("latin-1").split(delimiter.encode()))
            out.append(Record(consumed + 1, raw.encode("latin-1"), fields))
        consumed = reader.line_num
    return out


class Finding(AssertionError):
    """A property that does not hold, with the case that breaks it."""


def check_case(case: Case, folder: str) -> str:
    """Read the case's folder as the job does; raise Finding if a property fails. Returns 'ok' or 'exit 2'."""
    case.write(folder)  # (beam_jobs.records lifts csv's field size limit, for the reference too)
    try:
        layout = detect_movielens(folder)
        main, side = layout.main[0], layout.side_tables["movies"].table
        side_columns = MOVIES if layout.name == "ml-100k" else MOVIES + (SPEC.column("genres"),)
        for fmt, columns in ((main, RATINGS), (side, side_columns)):
            _check_file(case, fmt, columns)
        span = read_span(SPEC, folder, chunk_bytes=case.chunk_bytes)
    except UserError as e:
        message = str(e)
        if not message or any(c in message for c in "\n\r") or len(message) > 1500 or "Traceback" in message:
            raise Finding(f"{case.steps}: exit-2 message is not one short paragraph: {message[:3000]!r}") from None
        if headers_are_fine(case, folder) and "no rows" not in message:
            raise Finding(f"{case.steps}: refused although every header is fine: {message}") from None
        return "exit 2"
    except Finding:
        raise
    except Exception as e:  # noqa: BLE001 - any other exception is what the fuzzer looks for
        raise Finding(f"{case.steps}: {type(e).__name__}: {e}") from e
    main_records = reference_records(_read(main.path)[_data_start(main):], main.quoted, main.delimiter)
    if span.read != len(main_records):
        raise Finding(f"{case.steps}: read_span read {span.read} rows, csv finds {len(main_records)}")
    return "ok"


def headers_are_fine(case: Case, folder: str) -> bool:
    """Whether, by the reference, every file has a usable header (or needs none) and is not empty."""
    layout = detect_movielens(folder)
    for fmt in (layout.main[0], layout.side_tables["movies"].table):
        data = _read(fmt.path)
        if not data:
            return False
        if not fmt.header:
            continue
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        records = reference_records(data[:MAX_HEADER_BYTES], fmt.quoted, fmt.delimiter)
        if not records or b"\x00" in records[0].raw or data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return False
        names = [f.decode(fmt.encoding, errors="replace").strip() for f in records[0].fields]
        needed = ["userId", "movieId", "rating", "timestamp"] if fmt is layout.main[0] else ["movieId", "title", "genres"]
        if any(names.count(n) != 1 for n in needed) or all(_is_number(n) for n in names if n):
            return False
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _data_start(fmt) -> int:
    return read_header(fmt).data_start


def _check_file(case: Case, fmt, columns: tuple[Column, ...]) -> None:
    """Plan and parse one file chunk by chunk; compare every record with the reference."""
    data = _read(fmt.path)
    header = read_header(fmt)
    chunks = list(plan_chunks(fmt, case.chunk_bytes))
    where = f"{case.steps} {os.path.basename(fmt.path)}"
    if chunks and (chunks[0].start != header.data_start or chunks[-1].end != len(data)
                   or any(a.end != b.start for a, b in zip(chunks, chunks[1:]))):
        raise Finding(f"{where}: chunks do not tile the data: {[(c.start, c.end) for c in chunks]}")
    for chunk in chunks:
        expected_line = _count_lines(data[:chunk.start]) + 1
        if chunk.first_line != expected_line:
            raise Finding(f"{where}: chunk at byte {chunk.start} says line {chunk.first_line}, it is {expected_line}")
    records = {r.line: r for r in reference_records(data[header.data_start:], fmt.quoted, fmt.delimiter)}
    offset = header.first_line - 1
    records = {line + offset: r for line, r in records.items()}
    seen: set[int] = set()
    for chunk in chunks:
        batch, rejected = parse_chunk(chunk, fmt, columns)
        for r in rejected:
            record = records.get(r["line"])
            if record is None or r["line"] in seen:
                raise Finding(f"{where}: rejected line {r['line']} is not a record, or is read twice: {r}")
            seen.add(r["line"])
            raw = record.raw.decode(fmt.encoding, errors="replace")
            if r["raw"] != raw:
                raise Finding(f"{where}: rejected line {r['line']} shows {r['raw']!r}, the record is {raw!r}")
            if (r["reason"] == WRONG_FIELD_COUNT) != (len(record.fields) != len(header.columns)):
                raise Finding(f"{where}: line {r['line']} rejected as {r['reason']} with {len(record.fields)} fields")
        for row in batch.to_pylist():
            line = row[LINE_COLUMN]
            record = records.get(line)
            if record is None or line in seen:
                raise Finding(f"{where}: kept line {line} is not a record, or is read twice")
            seen.add(line)
            _check_values(where, row, record, header.columns, columns, fmt.encoding)
    if seen != set(records):
        missing = sorted(set(records) - seen)[:5]
        raise Finding(f"{where}: {len(records)} records, {len(seen)} read; never read: "
                      f"{[(m, records[m].raw[:60]) for m in missing]}")


def _check_values(where: str, row: dict, record: Record, names: tuple[str, ...], columns, encoding: str) -> None:
    for column in columns:
        if column.name == "genres" and "genres" not in names:
            continue
        field = record.fields[names.index(column.name)]
        got = row[column.name]
        if column.type == "int":
            ok = got == int(field.decode())
        elif column.type == "float":
            ok = np.isclose(got, float(field.decode()))
        else:
            ok = got == (field.decode(encoding) or None)
        if not ok:
            raise Finding(f"{where}: line {record.line} kept {column.name}={got!r}, the record has {field!r}")


def _count_lines(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
