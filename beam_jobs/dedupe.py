"""Duplicates of a declared unique key: keep the latest row, set the others aside.

Rows are routed by a hash of their key to a fixed number of shards, so all
copies of a key meet in one place while the work stays in Arrow batches; each
shard sorts by key, then by the `latest_by` column, source and line, and keeps
the last row of every key.  The result does not depend on input order.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_jobs.parse import DUPLICATE_KEY, LINE_COLUMN, rejection
from features.spec import Deduplicate
from features.split import row_hash

SOURCE_COLUMN = "__source__"


def shard_batch(source_and_batch: tuple[str, pa.RecordBatch], dedupe: Deduplicate,
                shards: int) -> Iterator[tuple[int, tuple[str, pa.RecordBatch]]]:
    """Cut a batch into per-shard pieces, each still paired with its source file.

    The source travels beside each piece, not as a column: a path repeated on
    every row was some 35 bytes a row through the shuffle (a local path; longer on gs://).
    """
    source, batch = source_and_batch
    shard = (row_hash(batch, dedupe.key) % np.uint64(shards)).astype(np.int64)
    for s in np.unique(shard):
        yield int(s), (source, batch.filter(pa.array(shard == s)))


def keep_latest(pieces: Iterable[tuple[str, pa.RecordBatch]], dedupe: Deduplicate
                ) -> tuple[list[tuple[str, pa.RecordBatch]], list[dict]]:
    """One shard's rows without duplicates, as (source, batch) pairs, and the rejected copies."""
    pieces = list(pieces)
    sources = sorted({source for source, _ in pieces})
    rank = {source: i for i, source in enumerate(sources)}  # sorting by rank sorts by source name
    table = pa.Table.from_batches([
        batch.append_column(SOURCE_COLUMN, pa.array(np.full(batch.num_rows, rank[source], np.int32)))
        for source, batch in pieces]).combine_chunks()
    order_by = [(k, "ascending") for k in dedupe.key]
    if dedupe.latest_by:
        order_by.append((dedupe.latest_by, "ascending"))
    order_by += [(SOURCE_COLUMN, "ascending"), (LINE_COLUMN, "ascending")]
    table = table.take(pc.sort_indices(table, sort_keys=order_by))
    last_of_key = np.ones(table.num_rows, dtype=bool)
    if table.num_rows > 1:
        same_as_next = np.ones(table.num_rows - 1, dtype=bool)
        for name in dedupe.key:
            values = table.column(name).to_numpy(zero_copy_only=False)
            same_as_next &= values[:-1] == values[1:]
        last_of_key[:-1] = ~same_as_next
    rejected = []
    for row in np.flatnonzero(~last_of_key):
        record = {name: table.column(name)[int(row)].as_py() for name in table.column_names}
        key_text = ", ".join(f"{k}={record[k]}" for k in dedupe.key)
        kept_by = f" (kept the row with the latest {dedupe.latest_by})" if dedupe.latest_by else " (kept the last)"
        raw = ",".join(str(v) for k, v in record.items() if not k.startswith("__"))
        rejected.append(rejection(sources[record[SOURCE_COLUMN]], record[LINE_COLUMN], raw, DUPLICATE_KEY,
                                  f"{key_text} appears more than once{kept_by}"))
    kept = table.filter(pa.array(last_of_key))
    source_rank = kept.column(SOURCE_COLUMN).to_numpy()
    out = []
    for index in np.unique(source_rank):
        part = kept.filter(pa.array(source_rank == index)).drop_columns([SOURCE_COLUMN])
        out.extend((sources[index], b) for b in part.combine_chunks().to_batches())
    return out, rejected
