"""Join a small side table (MovieLens movies) onto every batch of rows, vectorised.

The side table is read once into Arrow and handed to workers as a Beam side
input; each batch finds its keys with one `index_in` and takes the joined
columns.  Rows whose key is not in the side table are set aside.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from apache_beam.io.filesystems import FileSystems

from beam_jobs.layouts import SideFormat, TableFormat
from beam_jobs.parse import LINE_COLUMN, UNKNOWN_JOIN_KEY, Chunk, parse_chunk, plan_chunks, read_header, rejection
from features.spec import Column, Join


def read_side_table(side: SideFormat, key: Column, columns: tuple[Column, ...]) -> tuple[pa.Table, list[dict]]:
    """The side table's key and joined columns, validated; the first row wins for a repeated key."""
    fmt = side.table
    if fmt.kind == "parquet":
        parts = [parse_chunk(chunk, fmt, (key, *columns)) for chunk in plan_chunks(fmt)]
        batches = [b for b, _ in parts]
        rejected = [r for _, rows in parts for r in rows]
    else:
        file_columns, header_bytes = read_header(fmt)
        chunk = Chunk(fmt.path, header_bytes, -1, 2 if header_bytes else 1, file_columns)
        with FileSystems.open(fmt.path) as f:
            f.seek(header_bytes)
            data = f.read()
        if side.genre_flags:
            data = _flags_to_genres(data, fmt, file_columns, side.genre_flags)
            fmt = dataclasses.replace(fmt, delimiter="\t")
            chunk = Chunk(fmt.path, header_bytes, -1, chunk.first_line, file_columns[:5] + ("genres",))
        batch, rejected = parse_chunk(chunk, fmt, (key, *columns), data=data)
        batches = [batch]
    table = pa.Table.from_batches(batches).combine_chunks().drop_columns([LINE_COLUMN])
    _, first = np.unique(table.column(key.name).to_numpy(), return_index=True)
    return table.take(pa.array(np.sort(first))), rejected


def _flags_to_genres(data: bytes, fmt: TableFormat, file_columns: tuple[str, ...], genres: tuple[str, ...]) -> bytes:
    """ml-100k's u.item keeps 19 genre flags; rewrite each line, tab-separated, with one genres field.

    The genres field is pipe-separated like the other layouts, so the line's own
    '|' delimiter gives way to tabs.
    """
    sep = fmt.delimiter.encode()
    out = []
    for line in data.split(b"\n"):
        fields = line.rstrip(b"\r").split(sep)
        if len(fields) != len(file_columns):
            out.append(b"\t".join(fields))  # left for the parser to reject with its field count
            continue
        names = [genres[i] for i, flag in enumerate(fields[5:]) if flag.strip() == b"1"]
        out.append(b"\t".join(fields[:5] + ["|".join(names).encode(fmt.encoding)]))
    return b"\n".join(out)


def join_batch(batch: pa.RecordBatch, side: pa.Table, join: Join, source: str
               ) -> tuple[pa.RecordBatch, list[dict]]:
    """Add the side table's columns to `batch`; rows with an unknown key are rejected."""
    index = pc.index_in(batch.column(join.key), value_set=side.column(join.key))
    found = pc.is_valid(index)
    rejected = []
    if not pc.all(found).as_py():
        missing = np.flatnonzero(~found.to_numpy(zero_copy_only=False))
        for row in missing:
            key = batch.column(join.key)[int(row)].as_py()
            line = batch.column(LINE_COLUMN)[int(row)].as_py()
            rejected.append(rejection(source, line, _row_text(batch, int(row)), UNKNOWN_JOIN_KEY,
                                      f"{join.key} {key} is not in the side table"))
        batch = batch.filter(found)
        index = index.filter(found)
    arrays = list(batch.columns) + [side.column(c).take(index).combine_chunks() for c in join.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names + list(join.columns)), rejected


def _row_text(batch: pa.RecordBatch, row: int) -> str:
    names = [n for n in batch.schema.names if n != LINE_COLUMN]
    return ",".join(str(batch.column(n)[row].as_py()) for n in names)
