"""`embedflow cut-spans`: one big ratings file cut into the span folders `retrain` reads, one per UTC day.

`retrain` takes new data as spans, a folder per day under its
`input_root`.  Many users keep every rating in one growing file instead
(MovieLens' ratings.csv, with a `timestamp` in unix seconds).  This cuts
that file into INPUT_ROOT/<YYYY-MM-DD>/<the file's name>, each span with a
copy of the side files the spec joins (`--copy movies.csv`).

The file is read a block at a time (pyarrow's streaming CSV reader), so it
never has to fit in memory, and each block's rows are appended to their
day's file.  Every column but the timestamp is read as text and written
back as it was (a rating of "4.0" stays "4.0").  A day is written under a
hidden name (`.cutting-<day>`, which `retrain` skips) and renamed once
complete, so `retrain` never sees half a span.  Spans are immutable once
`retrain` has used them: a day whose folder exists is left alone (its rows
counted as already cut), so cutting again after the file grew adds only the
new days; `--through DAY` stops at DAY, so today's rows, still arriving,
wait for tomorrow's cut.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import os
import shutil

from stage_contracts.arguments import FieldChecks
from stage_contracts.errors import InputError

SECONDS_PER_DAY = 86_400
STAGING_PREFIX = ".cutting-"
READ_BLOCK_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class CutSpansConfig:
    """One cut (`embedflow cut-spans`)."""

    input: str  # one CSV file with a header and a timestamp column
    output: str  # retrain's input_root: a folder per day is made under it
    timestamp_column: str = "timestamp"  # unix seconds (UTC days)
    copy: tuple[str, ...] = ()  # side files copied into every new span (MovieLens: movies.csv)
    through: str | None = None  # the last day to cut, YYYY-MM-DD; None: every day in the file

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        check.existing_path("input")
        if os.path.isdir(self.input):
            check.fail("input", "a CSV file, not a folder")
        check.output_folder("output")
        check.text("timestamp_column")
        check.texts("copy", empty=False)
        for path in self.copy:
            if not os.path.isfile(path):
                check.fail("copy", "existing files to copy into each span", path)
        check.text("through", optional=True)
        if self.through is not None:
            try:
                datetime.date.fromisoformat(self.through)
            except ValueError:
                check.fail("through", "a day written YYYY-MM-DD")


@dataclasses.dataclass(frozen=True)
class CutResult:
    """What a cut did: the spans it wrote (day -> rows), and the rows it left to spans that exist or to later days."""

    written: dict[str, int]
    rows_in_existing_spans: int
    rows_after_through: int

    def summary(self, output: str) -> str:
        days = sorted(self.written)
        wrote = (f"Wrote {len(days)} span(s) under {output}: {days[0]} .. {days[-1]}, "
                 f"{sum(self.written.values()):,} rows" if days else f"No new spans under {output}")
        left = [f"{self.rows_in_existing_spans:,} rows of days already cut (left as they were)"
                if self.rows_in_existing_spans else "",
                f"{self.rows_after_through:,} rows after --through (for a later cut)" if self.rows_after_through else ""]
        return "; ".join([wrote] + [part for part in left if part]) + "."


def day_of(day_number: int) -> str:
    """The UTC date of a day counted from 1970-01-01, as YYYY-MM-DD (a span's name)."""
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day_number)).isoformat()


def cut_spans(config: CutSpansConfig) -> CutResult:
    """Cut `config.input` into span folders under `config.output` (see the module note)."""
    import numpy as np
    import pyarrow as pa

    columns = _header(config.input)
    if config.timestamp_column not in columns:
        raise InputError(f"{config.input} has no column {config.timestamp_column!r} to cut by (its columns: "
                         f"{', '.join(columns)}); name it with --timestamp-column.")
    os.makedirs(config.output, exist_ok=True)
    existing = {name for name in os.listdir(config.output) if not name.startswith(".")}
    name = os.path.basename(config.input)
    written: dict[str, int] = {}
    in_existing = after_through = 0
    first_row = 2  # the header is line 1
    for batch in _batches(config, columns):
        stamps = batch.column(config.timestamp_column)
        if stamps.null_count:
            missing = int(np.flatnonzero(stamps.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"{config.input}: line {first_row + missing} has no {config.timestamp_column}.")
        days = stamps.to_numpy() // SECONDS_PER_DAY
        for number in np.unique(days):
            rows = days == number
            day = day_of(int(number))
            if day in existing:
                in_existing += int(rows.sum())
            elif config.through is not None and day > config.through:
                after_through += int(rows.sum())
            else:
                staged = os.path.join(config.output, STAGING_PREFIX + day)
                if day not in written:
                    shutil.rmtree(staged, ignore_errors=True)  # what a killed cut left
                    os.makedirs(staged)
                _append(os.path.join(staged, name), batch.filter(pa.array(rows)), header=day not in written)
                written[day] = written.get(day, 0) + int(rows.sum())
        first_row += batch.num_rows
    for day in sorted(written):
        staged = os.path.join(config.output, STAGING_PREFIX + day)
        for side in config.copy:
            shutil.copyfile(side, os.path.join(staged, os.path.basename(side)))
        os.rename(staged, os.path.join(config.output, day))
    return CutResult(written, in_existing, after_through)


def _batches(config: CutSpansConfig, columns: list[str]):
    """The file's rows a block at a time: every column as text, the timestamp as int64; a value that is not a whole
    number is an InputError naming the file and the value."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {name: pa.string() for name in columns} | {config.timestamp_column: pa.int64()}
    try:
        reader = pacsv.open_csv(config.input, read_options=pacsv.ReadOptions(block_size=READ_BLOCK_BYTES),
                                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
        yield from reader
    except pa.ArrowInvalid as e:
        raise InputError(f"{config.input}: {e} (--timestamp-column {config.timestamp_column} must hold whole unix "
                         "seconds)") from None


def _header(path: str) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise InputError(f"{path} is empty: a CSV file with a header row is needed.")
    return header


def _append(path: str, rows, header: bool) -> None:
    """Append a batch's rows as CSV, quoting only what needs it (as the csv module reads and writes files)."""
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if header:
            writer.writerow(rows.column_names)
        writer.writerows(zip(*(column.to_pylist() for column in rows.columns)))
