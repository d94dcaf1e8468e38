"""Join a small side table (MovieLens movies) onto every batch of rows, vectorised.

The side table is read once into Arrow and handed to workers as a Beam side
input; each batch finds its keys with one `index_in` and takes the joined
columns.  Rows whose key is not in the side table are set aside.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from apache_beam.io.filesystems import FileSystems

from beam_jobs.layouts import SideFormat
from stage_contracts.errors import InputError
from beam_jobs.parse import LINE_COLUMN, UNKNOWN_JOIN_KEY, Chunk, parse_chunk, plan_chunks, read_header, rejection
from features.spec import Column, Join


def read_side_table(side: SideFormat, key: Column, columns: tuple[Column, ...]) -> tuple[pa.Table, list[dict]]:
    """The side table's key and joined columns, validated; the first row wins for a repeated key."""
    fmt = side.table
    genres = next((c for c in columns if side.genre_flags and c.name == "genres"), None)
    flags = tuple(Column(f"genre_{i}", "string", required=False) for i in range(len(side.genre_flags)))
    read = (key, *(c for c in columns if c is not genres), *(flags if genres else ()))
    if fmt.kind == "parquet":
        parts = [parse_chunk(chunk, fmt, read) for chunk in plan_chunks(fmt)]
    else:
        header = read_header(fmt)
        with FileSystems.open(fmt.path) as f:
            f.seek(header.data_start)
            data = f.read()
        chunk = Chunk(fmt.path, header.data_start, header.data_start + len(data), header.first_line, header.columns)
        parts = [parse_chunk(chunk, fmt, read, data=data)]
    if not parts:
        raise InputError(f"Side table {fmt.path} has no rows.")
    table = pa.Table.from_batches([b for b, _ in parts]).combine_chunks()
    rejected = [r for _, rows in parts for r in rows]
    if genres:
        table = table.append_column("genres", _genres_from_flags(table, flags, side.genre_flags))
    table = table.select([key.name, *(c.name for c in columns)])
    _, first = np.unique(table.column(key.name).to_numpy(), return_index=True)
    return table.take(pa.array(np.sort(first))), rejected


def _genres_from_flags(table: pa.Table, flags: tuple[Column, ...], names: tuple[str, ...]) -> pa.Array:
    """ml-100k's u.item keeps one 0/1 column per genre: the genres column the other layouts have, '|'-separated."""
    on = np.stack([pc.equal(pc.utf8_trim_whitespace(table.column(f.name)), "1").fill_null(False)
                   .to_numpy(zero_copy_only=False) for f in flags], axis=1)
    return pa.array(["|".join(n for n, flag in zip(names, row) if flag) for row in on], pa.string())


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
