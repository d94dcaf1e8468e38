"""The preprocess job: raw tables -> validated, joined, split, transformed TFRecords.

    read -> parse & validate --bad rows--> rejected/
         -> join side table -> split train/eval (stable hash)
         -> AnalyzeDataset(train) -> TransformDataset(train, eval)
         -> TFRecord shards + transform_fn/ + manifest.json + _SUCCESS
         -> (ratings specs) train_ids/: the train split's ids, label and row key as Parquet

Run as `embedflow preprocess ...` or `python -m beam_jobs.preprocess ...`;
every flag this job does not know goes to Beam's PipelineOptions.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import shutil
import sys
import tempfile
from typing import Mapping

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.beam import analysis_graph_builder, analyzer_cache
from tfx_bsl.tfxio.tensor_adapter import TensorAdapter
from apache_beam.io.filesystems import FileSystems

from stage_contracts import manifest as mf
from beam_jobs import analysis_cache
from beam_jobs.arrow_coder import RecordBatchCoder  # noqa: F401 - registers the coder for pa.RecordBatch
from beam_jobs.checks import check_inputs
from beam_jobs.config import PreprocessConfig
from beam_jobs.dedupe import keep_latest, shard_batch
from beam_jobs.id_table import WriteIdTable, table_rows
from stage_contracts.errors import InputError, OutputError, UserError
from features.graph import LABEL_VOCABULARY
from features.label_check import label_problem
from stage_contracts.progress import Progress
from beam_jobs.join import join_batch, read_side_table
from beam_jobs.layouts import InputLayout, table_layout
from beam_jobs.options import describe_options, is_dry_run, pipeline_options, run_pipeline, runner_name
from beam_jobs.parse import DEFAULT_CHUNK_BYTES, LINE_COLUMN, parse_chunk, plan_chunks, validate_table
from features.spec import FeatureSpec, load_spec
from features.split import eval_mask
from beam_jobs.statistics import DatasetStatistics, write_statistics
from beam_jobs.tfrecord_io import WriteTFRecordBatches
from beam_jobs.transform import preprocessing_fn_for, tensor_adapter_config, to_tfxio_batch

log = logging.getLogger(__name__)
REJECTED = "rejected"
STATS = "stats"
LABEL_CLASS = "train_label_class:"  # + a class: its rows in the train split
LABEL_SEEN = "train_label_seen:"  # + a value: a batch's smallest or largest label (one such key: a constant label)
EVAL = "eval"
DEDUPE_SHARDS = 32
SourcedBatch = tuple[str, pa.RecordBatch]  # rows and the file they came from; RecordBatchCoder encodes them
TRANSFORM_BATCH_ROWS = 1 << 18  # rows per batch that TFT analyses and transforms


class ParseChunks(beam.DoFn):
    """Parse one chunk into a typed Arrow batch; rejected rows and the row count go to side outputs."""

    def __init__(self, spec: FeatureSpec, files: tuple[str, ...] = ()):
        self._columns = spec.main_columns
        self._files = files  # to size the input for the progress line

    def setup(self):
        sizes = [m.size_in_bytes for r in FileSystems.match(list(self._files)) for m in r.metadata_list] \
            if self._files else []
        self._progress = Progress("Parsing input", "MB", total=sum(sizes) or None, scale=1e6, logger=log)

    def process(self, fmt_and_chunk):
        fmt, chunk = fmt_and_chunk
        batch, rejected = parse_chunk(chunk, fmt, self._columns)
        self._progress.add(chunk.end - chunk.start)  # Parquet row groups count no bytes
        yield from self._emit(chunk.path, batch, rejected)

    @staticmethod
    def _emit(source: str, batch: pa.RecordBatch, rejected: list[dict]):
        yield beam.pvalue.TaggedOutput(STATS, ("read", batch.num_rows + len(rejected)))
        for row in rejected:
            yield beam.pvalue.TaggedOutput(REJECTED, row)
        if batch.num_rows:
            yield source, batch


class ValidateRows(ParseChunks):
    """Validate rows that arrive typed (BigQuery): same checks and outputs as for files.

    BigQuery has no line numbers; a rejected row's `line` is its position in its batch.
    """

    def process(self, source_and_table):
        source, table = source_and_table
        lines = np.arange(1, table.num_rows + 1)
        batch, rejected = validate_table(table, lines, self._columns, source, None, 1, [])
        yield from self._emit(source, batch, rejected)


class KeepLatest(beam.DoFn):
    """One shard of rows by unique key: keep the latest copy of each key, reject the rest."""

    def __init__(self, spec: FeatureSpec):
        self._dedupe = spec.deduplicate

    def process(self, shard_and_batches):
        _, batches = shard_and_batches
        kept, rejected = keep_latest(batches, self._dedupe)
        for row in rejected:
            yield beam.pvalue.TaggedOutput(REJECTED, row)
        yield from kept


class JoinSideTable(beam.DoFn):
    def __init__(self, spec: FeatureSpec):
        self._join = spec.join

    def process(self, source_and_batch, side_table: pa.Table):
        source, batch = source_and_batch
        joined, rejected = join_batch(batch, side_table, self._join, source)
        for row in rejected:
            yield beam.pvalue.TaggedOutput(REJECTED, row)
        if joined.num_rows:
            yield source, joined


class SplitTrainEval(beam.DoFn):
    """Route each row by the stable hash of its split key; emit TFXIO-shaped batches of at most `batch_rows` rows.

    A deduplicated shard or a parsed chunk can hold half a million rows, and
    TFT analyses and transforms each batch whole, converting it to tensors
    and back.  Bounded batches bound that working memory (at 20M ratings the
    analysis stage peaks at 3.1 GiB); much smaller ones add per-batch costs
    (65,536 rows was a few percent slower).
    """

    def __init__(self, spec: FeatureSpec, batch_rows: int = TRANSFORM_BATCH_ROWS):
        self._spec, self._batch_rows = spec, batch_rows

    def process(self, source_and_batch):
        _, batch = source_and_batch
        split = self._spec.split
        to_eval = eval_mask(batch, split.key, split.seed, split.eval_fraction)
        for name, mask in (("train", ~to_eval), (EVAL, to_eval)):
            rows = np.flatnonzero(mask)
            for start in range(0, len(rows), self._batch_rows):
                part = batch.take(pa.array(rows[start:start + self._batch_rows])).drop_columns([LINE_COLUMN])
                yield from self._emit(name, part)

    def _emit(self, name: str, part: pa.RecordBatch):
        yield beam.pvalue.TaggedOutput(STATS, (f"kept_{name}", part.num_rows))
        if name == "train":
            yield from (beam.pvalue.TaggedOutput(STATS, count) for count in label_counts(self._spec, part))
        tfxio_batch = to_tfxio_batch(part, self._spec)
        yield tfxio_batch if name == "train" else beam.pvalue.TaggedOutput(EVAL, tfxio_batch)


def label_counts(spec: FeatureSpec, part: pa.RecordBatch) -> list[tuple[str, float]]:
    """Counts the manifest keeps of a batch's labels: rows per class (classification) or the sum of what the
    model predicts (its mean) and the smallest and largest value seen (a constant label is refused)."""
    values = part.column(spec.label.column).to_numpy(zero_copy_only=False)
    if spec.label.is_classification:
        names = spec.label.class_names(values, spec.column(spec.label.column).type)
        classes, counts = np.unique(names, return_counts=True)
        return [(f"{LABEL_CLASS}{c}", int(n)) for c, n in zip(classes, counts)]
    label = spec.label.to_model_scale(values)
    if not len(label):
        return []
    return [("train_label_sum", float(label.sum())), (f"{LABEL_SEEN}{label.min()!r}", 1),
            (f"{LABEL_SEEN}{label.max()!r}", 1)]


class ReadAndValidate(beam.PTransform):
    """One input's files -> valid, deduplicated, joined rows, with what was set aside and counted on the way.

    Named outputs (a dict, as Beam's own multi-output composites return):
    `rows` ((source, typed Arrow batch)), `rejected` (rejected-row dicts),
    `counts` ((name, n) pairs summed into the manifest) and, for a spec with
    a join, `side_table` (the one side table) and `side_rejected` (its bad rows).
    """

    def __init__(self, spec: FeatureSpec, layout: InputLayout, chunk_bytes: int):
        super().__init__()
        self._spec, self._layout, self._chunk_bytes = spec, layout, chunk_bytes

    def expand(self, pbegin) -> dict[str, beam.PCollection]:
        spec = self._spec
        parsed = self._parse(pbegin)
        rows, rejected = parsed.rows, [parsed[REJECTED]]
        outputs = {"counts": parsed[STATS]}
        if spec.deduplicate:
            deduped = (
                rows
                | "ShardByUniqueKey" >> beam.FlatMap(shard_batch, spec.deduplicate, DEDUPE_SHARDS
                                                     ).with_output_types(tuple[int, SourcedBatch])
                | "GatherKeys" >> beam.GroupByKey()
                | "KeepLatest" >> beam.ParDo(KeepLatest(spec)).with_output_types(SourcedBatch).with_outputs(
                    REJECTED, main="rows")
            )
            rows = deduped.rows
            rejected.append(deduped[REJECTED])
        if spec.join:
            side = self._layout.side_tables[spec.join.table or "join"]
            side_read = (
                pbegin
                | "SideTableFile" >> beam.Create([side])
                | "ReadSideTable" >> beam.Map(read_side_table, spec.column(spec.join.key), spec.joined_columns)
            )
            table = side_read | "SideTableRows" >> beam.Map(lambda t: t[0])
            joined = rows | "JoinSideTable" >> beam.ParDo(
                JoinSideTable(spec), beam.pvalue.AsSingleton(table)).with_output_types(SourcedBatch).with_outputs(
                REJECTED, main="rows")
            rows = joined.rows
            rejected.append(joined[REJECTED])
            side_rejected = side_read | "SideTableRejected" >> beam.FlatMap(lambda t: t[1])
            side_count = side_rejected | "CountSideRejected" >> beam.Map(lambda r: ("side_table_rejected", 1))
            outputs.update(side_table=table, side_rejected=side_rejected,
                           counts=(outputs["counts"], side_count) | "AllCounts" >> beam.Flatten())
        outputs.update(rows=rows, rejected=rejected | "AllRejected" >> beam.Flatten())
        return outputs

    def _parse(self, pbegin):
        """Typed batches of one input's rows (main output `rows`), its rejected rows and its row count."""
        spec, chunk_bytes = self._spec, self._chunk_bytes
        if self._layout.name == "bigquery":
            table = self._layout.main[0].path
            chunks = (
                pbegin
                | "ReadFromBigQuery" >> beam.io.ReadFromBigQuery(
                    table=table, selected_fields=[c.name for c in spec.main_columns],
                    method=beam.io.ReadFromBigQuery.Method.DIRECT_READ)
                | "BatchRows" >> beam.BatchElements(min_batch_size=10_000, max_batch_size=100_000)
                | "ToArrow" >> beam.Map(lambda rows: (table, pa.Table.from_pylist(rows)))
            )
            parser = ValidateRows(spec)
        else:
            chunks = (
                pbegin
                | "ListInputFiles" >> beam.Create(list(self._layout.main))
                | "PlanChunks" >> beam.FlatMap(lambda fmt: ((fmt, c) for c in plan_chunks(fmt, chunk_bytes)))
                | "SpreadChunks" >> beam.Reshuffle()
            )
            parser = ParseChunks(spec, tuple(fmt.path for fmt in self._layout.main))
        return chunks | "ParseAndValidate" >> beam.ParDo(parser).with_output_types(SourcedBatch).with_outputs(
            REJECTED, STATS, main="rows")


def _to_json(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True)


def _count_and_encode(row: dict) -> str:
    """A rejected row as a JSON line; its reason also counts in the job's metrics (Dataflow UI)."""
    beam.metrics.Metrics.counter("rejected_rows", row["reason"]).inc()
    return _to_json(row)


def _write_stats(stats: dict, path: str) -> None:
    with FileSystems.create(path) as f:
        f.write(json.dumps(stats, sort_keys=True).encode())


def build_pipeline(p: beam.Pipeline, spec: FeatureSpec, spans: dict[str, InputLayout], output_dir: str,
                   temp_dir: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES, cache_dir: str | None = None,
                   statistics: bool = True, cache_stage: str | None = None) -> dict:
    """Assemble the whole job on pipeline `p`; returns which spans are analysed and which come from cache.

    `spans` maps a span name to its input ("" for a plain single input).  With
    `cache_dir`, analysis runs per span through TFT's analyzer cache: a span
    whose statistics are cached is not analysed again, though its rows are
    still transformed and written; new entries are written under `cache_stage`
    (default `cache_dir`), which `run` publishes after the job succeeds
    (beam_jobs/analysis_cache.py).  With `statistics`, each split's
    statistics are written in TFDV's format (beam_jobs/statistics.py).
    """
    splits, rejected, stats, side_table, side_rejected = {}, [], [], None, []
    for name, layout in spans.items():
        tag = f"[{name}]" if name else ""
        read = p | f"ReadAndValidate{tag}" >> ReadAndValidate(spec, layout, chunk_bytes)
        splits[name] = read["rows"] | f"SplitTrainEval{tag}" >> beam.ParDo(SplitTrainEval(spec)).with_output_types(
            pa.RecordBatch, **{EVAL: pa.RecordBatch, STATS: tuple[str, float]}  # every tag typed: no Beam warning
        ).with_outputs(STATS, EVAL, main="train")
        rejected.append(read["rejected"])
        stats += [read["counts"], splits[name][STATS]]
        if "side_table" in read:
            side_table = read["side_table"]  # the latest span's side table is current
            side_rejected.append(read["side_rejected"])

    _write_rejected_and_counts(rejected, side_rejected, side_table, stats, output_dir, temp_dir)

    def flat(name: str, pcolls: list):
        return pcolls[0] if len(pcolls) == 1 else pcolls | name >> beam.Flatten()

    train = flat("AllTrain", [s.train for s in splits.values()])
    evaluation = flat("AllEval", [s[EVAL] for s in splits.values()])
    analysis = {"spans_analyzed": sorted(spans), "spans_from_cache": []}
    with tft_beam.Context(temp_dir=os.path.join(temp_dir, "tft"), passthrough_keys={mf.ROW_KEY}):
        config = tensor_adapter_config(spec)
        preprocessing_fn = preprocessing_fn_for(spec)
        if cache_dir:
            transform_fn, analysis = _analyze_with_cache(p, splits, config, preprocessing_fn, cache_dir,
                                                          cache_stage or cache_dir)
        else:
            transform_fn = (train, config) | "Analyze" >> tft_beam.AnalyzeDataset(preprocessing_fn)
        raw, transformed = {"train": train, EVAL: evaluation}, {}
        for name, data in raw.items():
            transformed[name], metadata = ((data, config), transform_fn) | f"Transform_{name}" >> (
                tft_beam.TransformDataset(output_record_batches=True))
            _ = transformed[name] | f"Write_{name}" >> WriteTFRecordBatches(
                os.path.join(output_dir, name, "part"), metadata.dataset_metadata.schema, mf.TFRECORD_SUFFIX)
        id_columns = id_table_columns(spec)
        if id_columns:
            _ = transformed["train"] | "WriteIdTable" >> WriteIdTable(
                os.path.join(output_dir, mf.ID_TABLE_DIR, "part"), id_columns, metadata.dataset_metadata.schema)
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(output_dir)
    if statistics:
        batches = {name: pcoll | f"Batches_{name}" >> beam.Map(lambda batch_and_keys: batch_and_keys[0])
                   for name, pcoll in transformed.items()}
        _ = (raw | "Statistics" >> DatasetStatistics(spec, batches, transform_fn[0])
             | "WriteStatistics" >> beam.Map(write_statistics, output_dir))
    return analysis


def id_table_columns(spec: FeatureSpec) -> tuple[str, ...]:
    """The id table's columns besides the row key: the model's (user id, item id) features and the label; none for
    a model that learns no per-id vectors (tables), which gets no id table."""
    ids = spec.model.id_features
    return (*ids, spec.label.column) if ids else ()


def _write_rejected_and_counts(rejected: list, side_rejected: list, side_table, stats: list, output_dir: str,
                               temp_dir: str) -> None:
    """Rejected rows as JSON lines (and counted per reason), the side table, and every count summed for the manifest."""
    all_rejected = rejected | "AllRejected" >> beam.Flatten()
    _ = (all_rejected
         | "RejectedToJson" >> beam.Map(_count_and_encode)
         | "WriteRejected" >> beam.io.WriteToText(os.path.join(output_dir, mf.REJECTED_DIR, "rows"),
                                                  file_name_suffix=".jsonl"))
    if side_table is not None:
        _ = (side_rejected
             | "AllSideRejected" >> beam.Flatten()
             | "SideRejectedToJson" >> beam.Map(_to_json)
             | "WriteSideRejected" >> beam.io.WriteToText(
                 os.path.join(output_dir, mf.REJECTED_DIR, "side_table"), file_name_suffix=".jsonl"))
        _ = side_table | "WriteSideTable" >> beam.Map(
            lambda t: pq.write_table(t, FileSystems.create(os.path.join(output_dir, mf.SIDE_TABLE))))
    reason_counts = all_rejected | "RejectReasons" >> beam.Map(lambda r: (f"rejected:{r['reason']}", 1))
    _ = ((stats + [reason_counts])
         | "AllCounts" >> beam.Flatten()
         | "SumCounts" >> beam.CombinePerKey(sum)
         | "CountsToDict" >> beam.combiners.ToDict()
         | "WriteCounts" >> beam.Map(_write_stats, os.path.join(temp_dir, "stats.json")))


def _analyze_with_cache(p, splits: dict, config, preprocessing_fn, cache_dir: str, write_dir: str):
    """AnalyzeDatasetWithCache over per-span train data; spans fully covered by the cache are not read."""
    keys = {name: analyzer_cache.DatasetKey(name) for name in splits}
    on_disk = {}
    for key in keys.values():
        entries = analyzer_cache._ManifestFile(  # noqa: SLF001 - TFT's own cache manifest
            analyzer_cache._get_dataset_cache_path(cache_dir, key)).read()  # noqa: SLF001
        if entries:
            on_disk[key] = analyzer_cache.DatasetCache({entry: True for entry in entries}, None)
    specs = TensorAdapter(config).OriginalTypeSpecs()
    needed = analysis_graph_builder.get_analysis_dataset_keys(
        preprocessing_fn, specs, list(keys.values()), on_disk, force_tf_compat_v1=False)
    data = {key: (splits[name].train if key in needed else None) for name, key in keys.items()}
    input_cache = p | "ReadAnalysisCache" >> analyzer_cache.ReadAnalysisCacheFromFS(
        cache_dir, [k for k in keys.values() if k in on_disk])
    transform_fn, output_cache = (data, input_cache, config) | "Analyze" >> tft_beam.AnalyzeDatasetWithCache(
        preprocessing_fn)
    _ = output_cache | "WriteAnalysisCache" >> analyzer_cache.WriteAnalysisCacheToFS(
        p, write_dir, dataset_keys=list(keys.values()))
    analyzed = sorted(name for name, key in keys.items() if key in needed)
    log.info("Analysis: %d span(s) analysed (%s), %d from TFT's analyzer cache", len(analyzed),
             ", ".join(analyzed), len(keys) - len(analyzed))
    return transform_fn, {"spans_analyzed": analyzed,
                          "spans_from_cache": sorted(name for name, key in keys.items() if key not in needed)}


def run(config: PreprocessConfig) -> dict:
    """Run the job a PreprocessConfig describes to completion; return its manifest (`--dry_run`: the built job).

    `config.input` is one input, or a mapping of span name to input (scheduled retraining); with
    `config.cache_dir`, TFT's analyzer cache there is read and updated; with `config.statistics`, the splits'
    statistics go to `statistics/` (TFDV's format).  The output folder is usable only once `_SUCCESS` appears,
    after the manifest; a job that crashes, is killed or rejects too many rows leaves no marker.
    """
    spec, output_dir, cache_dir = resolved_spec(config), config.output, config.cache_dir
    chunk_bytes = config.chunk_bytes or DEFAULT_CHUNK_BYTES
    options = pipeline_options(list(config.beam_args))
    dry_run = is_dry_run(options)
    inputs = resolved_inputs(config, spec)
    # A dry run is offline: remote inputs are not listed (that needs credentials), and nothing is written.
    spans = {name: table_layout(spec, path, read=not (dry_run and "://" in path)) for name, path in inputs.items()}
    if not dry_run:
        for layout in spans.values():
            check_inputs(spec, layout)
        mf.prepare_output(output_dir, config.overwrite)
    started = datetime.datetime.now(datetime.timezone.utc)
    # TFT writes temporary assets while it traces the graph; a dry run keeps them in a local folder it removes.
    temp_dir = tempfile.mkdtemp(prefix="embedflow-dry-run-") if dry_run else os.path.join(output_dir, "_tmp")
    log.info("Preprocessing %s (%s) with spec '%s' on %s", ", ".join(inputs.values()),
             ", ".join(sorted({layout.name for layout in spans.values()})), spec.name, runner_name(options))
    p = beam.Pipeline(options=options)
    # The analyzer cache is healed, then written aside and published only after the job succeeds.
    stage = analysis_cache.begin(cache_dir) if cache_dir and not dry_run else None
    try:
        analysis = build_pipeline(p, spec, spans, output_dir, temp_dir, chunk_bytes, cache_dir, config.statistics,
                                  stage)
        result = run_pipeline(p, options)
    except BaseException:
        if stage:
            analysis_cache.abandon(stage)
        raise
    finally:
        if dry_run:
            shutil.rmtree(temp_dir, ignore_errors=True)
    if stage:
        analysis_cache.publish(stage, cache_dir)
    if dry_run:
        log.info("Dry run: built the %s job without running it; nothing was read remotely or written",
                 runner_name(options))
        return {"dry_run": True, "job": getattr(result, "job", None), "pipeline": p}
    stats = mf.read_json(os.path.join(temp_dir, "stats.json"))
    manifest = _manifest(spec, spans, inputs, output_dir, stats, options, started)
    _check_label(spec, manifest["label"], stats, inputs)
    manifest["analysis"] = analysis
    tf.io.gfile.rmtree(temp_dir)
    mf.write_json(os.path.join(output_dir, mf.MANIFEST), manifest)
    counts = manifest["counts"]
    log.info("Read %d rows: kept %d train + %d eval, rejected %d. Output: %s", counts["read"],
             counts["kept"]["train"], counts["kept"]["eval"], counts["rejected"]["total"], output_dir)
    for reason, n in sorted(counts["rejected"]["by_reason"].items(), key=lambda kv: -kv[1]):
        log.info("  rejected %d rows: %s (see %s)", n, reason, os.path.join(output_dir, mf.REJECTED_DIR))
    _check_rejected_fraction(counts, output_dir, config.max_rejected_fraction)
    mf.mark_success(output_dir)
    return manifest


def _check_label(spec: FeatureSpec, label: dict, stats: dict, inputs: dict[str, str]) -> None:
    """A label the model cannot learn (one value, a class with too few rows) stops the job before `_SUCCESS`."""
    seen = sum(1 for key in stats if key.startswith(LABEL_SEEN))
    problem = label_problem(spec.label, label.get("class_counts"), seen)
    if problem:
        raise InputError(f"Input {', '.join(inputs.values())}: label column {spec.label.column!r} cannot be learned "
                         f"from its train split: {problem}. The output is left without {mf.SUCCESS}.")


def _label_entry(spec: FeatureSpec, stats: dict, tft_output: tft.TFTransformOutput, train_rows: int) -> dict:
    """The manifest's label: its column, the train mean of what the model predicts and, for classes, their names
    in the model's order and their train rows."""
    entry: dict = {"column": spec.label.column}
    if not spec.label.is_classification:
        return {**entry, "train_mean": stats.get("train_label_sum", 0.0) / max(train_rows, 1)}
    counts = {k[len(LABEL_CLASS):]: v for k, v in stats.items() if k.startswith(LABEL_CLASS)}
    if spec.label.has_vocabulary:
        classes = [c.decode() if isinstance(c, bytes) else c for c in tft_output.vocabulary_by_name(LABEL_VOCABULARY)]
        classes = [c for c in classes if c in counts] or classes  # a vocabulary with no token holds a placeholder
    else:
        classes = ["0", "1"]
    priors = [counts.get(c, 0) / max(train_rows, 1) for c in classes]
    return {**entry, "classes": classes, "class_counts": {c: counts.get(c, 0) for c in classes},
            "train_mean": priors[1] if spec.label.is_binary and len(priors) > 1 else 0.0,
            "class_priors": priors}


def _check_rejected_fraction(counts: dict, output_dir: str, limit: float) -> None:
    rejected, read = counts["rejected"]["total"], counts["read"]
    if read == 0:
        raise InputError("The input has no data rows.")
    if rejected / read > limit:
        top = sorted(counts["rejected"]["by_reason"].items(), key=lambda kv: -kv[1])[:3]
        reasons = ", ".join(f"{reason} ({n})" for reason, n in top)
        raise UserError(
            f"Rejected {rejected} of {read} rows ({rejected / read:.1%}), more than --max-rejected-fraction "
            f"{limit:g}. Top reasons: {reasons}. The rejected rows, with line numbers and reasons, are in "
            f"{os.path.join(output_dir, mf.REJECTED_DIR)}. Fix the input, or raise --max-rejected-fraction "
            f"to accept it; the output is left without {mf.SUCCESS}, so train will refuse it.")


def _manifest(spec: FeatureSpec, spans: dict[str, InputLayout], inputs: dict[str, str], output_dir: str,
              stats: dict, options, started: datetime.datetime) -> dict:
    tft_output = tft.TFTransformOutput(output_dir)
    features = {f.name: f.manifest_entry(tft_output.vocabulary_size_by_name) for f in spec.features}
    rejected_by_reason = {k.split(":", 1)[1]: v for k, v in sorted(stats.items()) if k.startswith("rejected:")}
    kept = {"train": stats.get("kept_train", 0), "eval": stats.get("kept_eval", 0)}
    counts = {
        "read": stats.get("read", 0),
        "kept": kept,
        "rejected": {"total": sum(rejected_by_reason.values()), "by_reason": rejected_by_reason},
        "side_table_rejected": stats.get("side_table_rejected", 0),
    }
    if counts["read"] != kept["train"] + kept["eval"] + counts["rejected"]["total"]:
        raise OutputError(f"Row accounting failed for {', '.join(inputs.values())}: read {counts['read']} rows but kept "
                          f"{kept['train'] + kept['eval']} and rejected {counts['rejected']['total']}.")
    files = [fmt.path for layout in spans.values() for fmt in layout.main if fmt.kind != "bigquery"] + [
        s.table.path for layout in spans.values() for s in layout.side_tables.values()]
    id_table = _id_table_entry(spec, output_dir, kept["train"])
    return {
        "format_version": mf.FORMAT_VERSION,
        "spec": spec.to_dict(),
        "input": {"path": inputs[""] if list(inputs) == [""] else inputs,
                  "layout": ", ".join(sorted({layout.name for layout in spans.values()})),
                  "files": [_file_info(f) for f in files]},
        "counts": counts,
        "label": _label_entry(spec, stats, tft_output, kept["train"]),
        "features": features,
        "layout": {"train": mf.TRAIN_DIR, "eval": mf.EVAL_DIR, "rejected": mf.REJECTED_DIR,
                   "side_table": mf.SIDE_TABLE if spec.join else None,
                   "id_table": mf.ID_TABLE_DIR if id_table else None},
        "id_table": id_table,
        "versions": _versions(),
        "runner": runner_name(options),
        "pipeline_options": describe_options(options),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _id_table_entry(spec: FeatureSpec, output_dir: str, train_rows: int) -> dict | None:
    """The manifest's id table (its columns and rows), or None for a spec that writes none; its rows must be the
    train split's."""
    columns = id_table_columns(spec)
    if not columns:
        return None
    rows = table_rows(output_dir)
    if rows != train_rows:
        raise OutputError(f"The id table under {os.path.join(output_dir, mf.ID_TABLE_DIR)} holds {rows} rows, but the "
                          f"train split kept {train_rows}.")
    return {"columns": [*columns, mf.ROW_KEY], "rows": rows}


def _file_info(path: str) -> dict:
    meta = FileSystems.match([path])[0].metadata_list
    if not meta:
        return {"path": path}
    return {"path": path, "bytes": meta[0].size_in_bytes, "modified": meta[0].last_updated_in_seconds}


def _versions() -> dict:
    import tfx_bsl

    return {"embedflow": mf.product_version(), "python": sys.version.split()[0], "apache_beam": beam.__version__,
            "tensorflow": tf.__version__, "tensorflow_transform": tft.__version__, "tfx_bsl": tfx_bsl.__version__,
            "pyarrow": pa.__version__}


def resolved_spec(config: PreprocessConfig) -> FeatureSpec:
    """The config's spec, loaded when named, with `config.seed` as its split seed when given."""
    spec = load_spec(config.spec) if isinstance(config.spec, str) else config.spec
    if config.seed is not None:
        spec = dataclasses.replace(spec, split=dataclasses.replace(spec.split, seed=config.seed))
    return spec


def resolved_inputs(config: PreprocessConfig, spec: FeatureSpec) -> dict[str, str]:
    """Span name -> input: the config's mapping, else its one input (or the spec's source.path) as span ""."""
    if isinstance(config.input, Mapping):
        return dict(config.input)
    input_path = config.input or spec.source.path
    if not input_path:
        raise InputError(f"No --input given and spec {spec.path} has no source.path.")
    return {"": input_path}


if __name__ == "__main__":
    from embedflow.cli import main

    sys.exit(main(["preprocess", *sys.argv[1:]]))
