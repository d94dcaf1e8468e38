"""The batch prediction job: every row of a CSV/Parquet table scored by a model version's SavedModel.

    files -> record batches -> rows checked against the spec's serving columns
          -> the SavedModel's `predict` signature, one call per batch -> Parquet (key columns + prediction)
                                                 \\-> rejected/ (file, row, reason, values)

TFX's BulkInferrer for this project's models: the SavedModel takes raw
columns (its TFT graph inside), so the table needs only the columns a
request carries (`describe --model` lists them).  Each worker loads the
SavedModel once (DoFn.setup).  The output keeps the request's columns (the
keys: userId, movieId, ...) and any `keep` columns, so predictions join back
to the input; `manifest.json` counts rows read, scored and rejected (read =
scored + rejected).  Runs on DirectRunner or, with the same flags as
preprocess, on Dataflow.
"""

from __future__ import annotations

import datetime
import json
import logging
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from beam_jobs.options import describe_options, is_dry_run, pipeline_options, run_pipeline, runner_name
from stage_contracts import manifest as mf
from stage_contracts.errors import InputError
from features.spec import Column, spec_from_dict
from stage_contracts.model_dir import resolve_version

log = logging.getLogger(__name__)
OUTPUT_PREFIX = "predictions"
PREDICTION = "prediction"
REJECTED = "rejected"
BATCH_ROWS = 65_536
NUMBER = {"int": r"^\s*[+-]?\d+\s*$", "float": r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^\s*[+-]?(inf|nan)\s*$"}
ARROW_TYPES = {"int": pa.int64(), "float": pa.float32(), "string": pa.string()}  # what the signature takes
KEY_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}  # the request's columns in the output


def input_files(path: str) -> list[str]:
    """A CSV/Parquet file, a glob, or a folder of them."""
    pattern = path
    if not any(ch in path for ch in "*?[") and (os.path.isdir(path) or ("://" in path and path.endswith("/"))):
        pattern = FileSystems.join(path, "*")
    files = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list
                   if m.path.endswith((".csv", ".parquet")))
    if not files:
        raise InputError(f"Input {path} matches no .csv or .parquet files (looked for {pattern}).")
    return files


def read_batches(path: str):
    """(path, first row number, record batch) of one file, BATCH_ROWS rows at a time; CSV columns as read."""
    with FileSystems.open(path) as f:
        if path.endswith(".parquet"):
            batches = pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS)
        else:
            batches = pacsv.open_csv(f, read_options=pacsv.ReadOptions(block_size=8 << 20),
                                     convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        first = 1
        for batch in batches:
            yield path, first, batch
            first += batch.num_rows


def file_schema(path: str) -> pa.Schema:
    """A file's columns and types (a CSV's as its first block reads them)."""
    for _, _, batch in read_batches(path):
        return batch.schema
    return pa.schema([])


def checked_columns(batch: pa.RecordBatch, columns: tuple[Column, ...]) -> tuple[dict[str, np.ndarray], np.ndarray,
                                                                               list[str]]:
    """The request's columns typed for the signature, which rows are valid, and each invalid row's reason.

    A column is read as text and parsed, so one bad value rejects its row, not the file: a required column's
    empty value and a number that does not parse are rejected; an optional column's empty value is sent as
    "" or NaN, which the SavedModel reads as "no value" (as serving does).
    """
    n = batch.num_rows
    valid, reasons = np.ones(n, bool), [""] * n
    values: dict[str, np.ndarray] = {}
    for column in columns:
        text = pc.utf8_trim_whitespace(pc.cast(batch.column(column.name), pa.string()))
        empty = np.asarray(pc.fill_null(pc.equal(text, ""), True))
        ok = ~empty
        if column.is_numeric:
            ok &= np.asarray(pc.fill_null(pc.match_substring_regex(text, NUMBER[column.type], ignore_case=True),
                                          False))
        bad_empty = empty if column.required or column.type == "int" else np.zeros(n, bool)
        bad = (~ok & ~empty) | bad_empty
        for i in np.flatnonzero(bad & valid):
            reasons[i] = (f"column {column.name}: missing" if empty[i]
                          else f"column {column.name}: not {'an integer' if column.type == 'int' else 'a number'}")
        valid &= ~bad
        filled = pc.if_else(pc.equal(text, ""), None, text) if column.is_numeric else pc.fill_null(text, "")
        if column.is_numeric:
            safe = pc.if_else(pa.array(ok), filled, None)
            values[column.name] = np.asarray(pc.cast(safe, ARROW_TYPES[column.type]).fill_null(
                0 if column.type == "int" else float("nan")))
        else:
            values[column.name] = np.asarray(filled, dtype=object)
    return values, valid, reasons


class ScoreBatches(beam.DoFn):
    """Loads the SavedModel once per worker; scores one record batch per element; bad rows to `rejected`."""

    def __init__(self, version_dir: str, columns: tuple[Column, ...], schema: pa.Schema):
        self._version_dir, self._columns, self._schema = version_dir, columns, schema

    def setup(self):
        import tensorflow as tf

        from stage_contracts.signatures import signature_input_names

        self._tf = tf
        self._model = tf.saved_model.load(self._version_dir)  # kept: the signature needs its variables
        self._predict = self._model.signatures["predict"]
        self._names = signature_input_names([c.name for c in self._columns])
        self._dtypes = {k: v.dtype for k, v in self._predict.structured_input_signature[1].items()}

    def process(self, element):
        path, first, batch = element
        counter = beam.metrics.Metrics.counter
        counter("predict", "read").inc(batch.num_rows)
        values, valid, reasons = checked_columns(batch, self._columns)
        for i in np.flatnonzero(~valid):
            counter("predict_rejected", reasons[i].split(":")[0]).inc()
            yield beam.pvalue.TaggedOutput(REJECTED, json.dumps(
                {"file": path, "row": first + int(i), "reason": reasons[i],
                 "values": {c.name: _shown(batch.column(c.name)[int(i)]) for c in self._columns}}))
        rows = np.flatnonzero(valid)
        counter("predict", "scored").inc(len(rows))
        if not len(rows):
            return
        inputs = {self._names[c.name]: self._tf.constant(values[c.name][rows], self._dtypes[self._names[c.name]])
                  for c in self._columns}
        prediction = self._predict(**inputs)[PREDICTION].numpy().reshape(-1).astype(np.float32)
        kept = batch.take(pa.array(rows))
        columns = [kept.column(name).cast(self._schema.field(name).type) for name in self._schema.names[:-1]]
        yield pa.Table.from_arrays(columns + [pa.array(prediction)], schema=self._schema)


def _shown(value: pa.Scalar):
    return None if not value.is_valid else value.as_py() if isinstance(value.as_py(), (int, float, str)) \
        else str(value.as_py())


def output_schema(first_file: pa.Schema, columns: tuple[Column, ...], keep: tuple[str, ...]) -> pa.Schema:
    """`keep` columns typed as the first file has them, the request's columns typed as the spec says (so they
    join back to the source table), then `prediction`."""
    request = {c.name: pa.field(c.name, KEY_TYPES[c.type]) for c in columns}
    names = list(dict.fromkeys([*keep, *request]))
    return pa.schema([request.get(n) or first_file.field(n) for n in names] + [pa.field(PREDICTION, pa.float32())])


def build_pipeline(p: beam.Pipeline, files: list[str], version_dir: str, columns: tuple[Column, ...],
                   schema: pa.Schema, output_dir: str) -> None:
    scored = (p
              | "InputFiles" >> beam.Create(files)
              | "ReadBatches" >> beam.FlatMap(read_batches)
              | "SpreadBatches" >> beam.Reshuffle()
              | "Score" >> beam.ParDo(ScoreBatches(version_dir, columns, schema)).with_outputs(REJECTED,
                                                                                                 main="scored"))
    _ = scored.scored | "WriteParquet" >> beam.io.WriteToParquetBatched(
        os.path.join(output_dir, OUTPUT_PREFIX), schema=schema, file_name_suffix=".parquet")
    _ = scored[REJECTED] | "WriteRejected" >> beam.io.WriteToText(
        os.path.join(output_dir, REJECTED, REJECTED), file_name_suffix=".json")


def run(model: str, input_path: str, output_dir: str, keep: tuple[str, ...] = (), beam_args: list[str] | None = None,
        overwrite: bool = False) -> dict:
    """Score every row of `input_path` with the model version; returns the manifest (or, dry run, the job)."""
    options = pipeline_options(beam_args or [])
    version_dir = resolve_version(model)
    manifest = mf.read_json(os.path.join(version_dir, mf.MANIFEST))
    spec = spec_from_dict(manifest["spec"])
    columns = spec.serving_columns()
    files = input_files(input_path)
    schema_of_first = file_schema(files[0])
    missing = [n for n in [*(c.name for c in columns), *keep] if n not in schema_of_first.names]
    if missing:
        raise InputError(f"{files[0]} has no column(s) {', '.join(missing)}: the model's requests carry "
                         f"{', '.join(c.name for c in columns)} (and --keep names columns to carry over); the "
                         f"file has {', '.join(schema_of_first.names) or 'no columns'}.")
    schema = output_schema(schema_of_first, columns, keep)
    if not is_dry_run(options):
        mf.prepare_output(output_dir, overwrite)
    log.info("Predicting %d file(s) of %s with %s on %s", len(files), input_path, version_dir, runner_name(options))
    started = datetime.datetime.now(datetime.timezone.utc)
    p = beam.Pipeline(options=options)
    build_pipeline(p, files, version_dir, columns, schema, output_dir)
    result = run_pipeline(p, options)
    if is_dry_run(options):
        return {"dry_run": True, "job": getattr(result, "job", None), "pipeline": p}
    counts = _counts(result)
    summary = {**mf.provenance(spec.name, input_path), "model_version": version_dir, "files": files,
               "columns": schema.names, "counts": counts, "runner": runner_name(options),
               "pipeline_options": describe_options(options), "started_at": started.isoformat(timespec="seconds"),
               "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    mf.write_json(os.path.join(output_dir, mf.MANIFEST), summary)
    mf.mark_success(output_dir)
    log.info("Read %d rows: scored %d, rejected %d%s. Output: %s", counts["read"], counts["scored"],
             counts["rejected"]["total"], f" (see {os.path.join(output_dir, REJECTED)})"
             if counts["rejected"]["total"] else "", output_dir)
    return summary


def _counts(result) -> dict:
    """Rows read, scored and rejected (by reason), from the job's counters."""
    totals: dict[tuple[str, str], int] = {}
    for counter in result.metrics().query()["counters"]:
        key = (counter.key.metric.namespace, counter.key.metric.name)
        totals[key] = totals.get(key, 0) + int(counter.committed or counter.attempted or 0)
    by_reason = {name: n for (namespace, name), n in totals.items() if namespace == "predict_rejected"}
    return {"read": totals.get(("predict", "read"), 0), "scored": totals.get(("predict", "scored"), 0),
            "rejected": {"total": sum(by_reason.values()), "by_reason": by_reason}}
