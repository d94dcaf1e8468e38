"""The train split's id table: each record's user id, item id, label and row key as Parquet shards.

The trainer's preparation of a ratings model (user histories, per-id
counts, the bias baseline) needs only these columns of the train split.
Reading them from the TFRecords means parsing every record (a pass that
decompresses and parses all features); this table holds the same values
as the records (the transformed ids, the label as the model reads it)
plus the row key, by which the trainer drops its validation slice
(trainer/data.py `in_validation`: the slice depends on the trainer's seed,
so preprocess cannot cut it, only write the key).  The trainer reads only
these columns, a row group at a time (trainer/id_table.py).

Written by the pipeline itself through a Beam file sink (write to
temporary files, then finalize), in row groups of ROW_GROUP_ROWS, so it
scales with the job on Dataflow.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf
from apache_beam.io import filebasedsink, iobase
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from tensorflow_transform.tf_metadata import schema_utils

from stage_contracts import manifest as mf

_ARROW_TYPES = {tf.int64: pa.int64(), tf.float32: pa.float32()}
CODEC = "snappy"
ROW_GROUP_ROWS = 1 << 18  # rows per row group: the trainer reads one at a time (~7 MiB of these four columns)


def id_table_schema(columns: tuple[str, ...], transformed_schema) -> pa.Schema:
    """The table's schema: `columns` with the types the transformed records give them, then ROW_KEY."""
    spec = schema_utils.schema_as_feature_spec(transformed_schema).feature_spec
    return pa.schema([(name, _ARROW_TYPES[spec[name].dtype]) for name in columns] + [(mf.ROW_KEY, pa.int64())])


def id_rows(transformed: tuple[pa.RecordBatch, dict[str, pa.Array]], schema: pa.Schema) -> pa.Table:
    """One transformed batch and its passthrough row keys (one value per row in each of the table's columns) as a
    flat table."""
    batch, passthrough = transformed
    arrays = []
    for field in schema:
        # TFT puts the row key in the batch or in the passthrough dict (tfrecord_io.py `with_passthrough`)
        column = batch.column(field.name) if field.name in batch.schema.names else passthrough[field.name]
        values = pc.list_flatten(column)
        if len(values) != batch.num_rows:
            raise ValueError(f"Column {field.name!r} holds {len(values)} values for {batch.num_rows} rows: the id "
                             f"table takes one value per row")
        arrays.append(values.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class _IdTableSink(filebasedsink.FileBasedSink):
    """A Parquet file sink whose elements are tables, gathered into row groups of about ROW_GROUP_ROWS rows: TFT's
    transformed batches are a few hundred rows each, and a row group apiece made the trainer's read slow.  Beam owns
    the file protocol (temporary files, finalize by rename), as for the TFRecords (beam_jobs/tfrecord_io.py)."""

    def __init__(self, file_path_prefix: str, schema: pa.Schema):
        super().__init__(file_path_prefix, coder=None, file_name_suffix=mf.ID_TABLE_SUFFIX, num_shards=0,
                         shard_name_template=None, mime_type="application/x-parquet",
                         compression_type=CompressionTypes.UNCOMPRESSED)
        self._schema = schema

    def open(self, temp_path: str) -> "_RowGroupWriter":
        return _RowGroupWriter(super().open(temp_path), self._schema)

    def write_record(self, file_handle: "_RowGroupWriter", table: pa.Table) -> None:
        file_handle.add(table)

    def close(self, file_handle: "_RowGroupWriter") -> None:
        file_handle.close()


class _RowGroupWriter:
    """One temporary shard: tables are held until they make a row group."""

    def __init__(self, file, schema: pa.Schema):
        self._file, self._writer = file, pq.ParquetWriter(file, schema, compression=CODEC)
        self._pending: list[pa.Table] = []
        self._rows = 0

    def add(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP_ROWS)
        self._pending, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._file.close()


class WriteIdTable(beam.PTransform):
    """(RecordBatch, passthrough) pairs from TransformDataset -> `prefix-SSSSS-of-NNNNN.parquet` of `columns` and
    the row key."""

    def __init__(self, file_path_prefix: str, columns: tuple[str, ...], transformed_schema):
        super().__init__()
        self._schema = id_table_schema(columns, transformed_schema)
        self._sink = _IdTableSink(file_path_prefix, self._schema)

    def expand(self, transformed):
        return (transformed
                | "IdColumns" >> beam.Map(id_rows, self._schema)
                | "WriteParquet" >> iobase.Write(self._sink))


def table_rows(output_dir: str) -> int:
    """Rows of the id table written under `output_dir` (from the shards' footers only)."""
    rows = 0
    for path in tf.io.gfile.glob(mf.id_table_pattern(output_dir)):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            rows += pq.ParquetFile(f).metadata.num_rows
    return rows
