"""The batch recommendation job: top-K unrated items for every user, written to Parquet (and CSV).

    user blocks -> score block x all items (embedding_uses/topk.py) -> K rows per user -> Parquet shards

Users are scored in blocks of `--block-size` against the whole item matrix,
never pair by pair in Python.  Each worker loads the model version's
embeddings once (DoFn.setup).  Runs on DirectRunner or, with the same flags
as preprocess, on Dataflow.
"""

from __future__ import annotations

import datetime
import logging
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from beam_jobs.config import RecommendAllConfig
from stage_contracts import manifest as mf
from stage_contracts.progress import Progress
from beam_jobs.options import describe_options, is_dry_run, pipeline_options, run_pipeline, runner_name
from embedding_uses.layout import arrow_id_type
from stage_contracts.model_dir import resolve_version
from embedding_uses.ranking_score import RankingWeights
from embedding_uses.recommend import EmbeddingIndex
from embedding_uses.topk import DEFAULT_BLOCK

log = logging.getLogger(__name__)
OUTPUT_PREFIX = "recommendations"


def output_schema(index: EmbeddingIndex) -> pa.Schema:
    """Ids typed like the source table's id columns (MovieLens: int64), so outputs join back without a cast."""
    fields = [("user_id", arrow_id_type(index.id_types["user"])), ("rank", pa.int32()),
              ("item_id", arrow_id_type(index.id_types["item"])),
              ("score", pa.float32()), ("predicted_rating", pa.float32())]
    if "title" in index.item_meta:
        fields.append(("title", pa.string()))
    return pa.schema(fields)


def recommend_block(index: EmbeddingIndex, scorer, users: np.ndarray, weights: RankingWeights) -> pa.RecordBatch:
    """K rows per user for a block of user positions: the vectorised core of the job.  `score` is `recommend`'s
    (EmbeddingIndex.scored); `weights` are the ones `scorer` ranks by."""
    indptr, indices = index.rated_by(users)
    top, scan_scores = scorer.top_k(index.users[users], indptr, indices)
    k = top.shape[1]
    valid = np.isfinite(scan_scores)
    rows = np.repeat(users, k).reshape(len(users), k)
    scored = index.scored(index.users[users], index.user_bias[users], top, weights)
    columns = {
        "user_id": index.typed_ids("user").take(rows[valid]),
        "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), (len(users), 1))[valid]),
        "item_id": index.typed_ids("item").take(top[valid]),
        "score": pa.array(scored.score[valid].astype(np.float32)),
        "predicted_rating": pa.array(scored.rating[valid].astype(np.float32)),
    }
    if "title" in index.item_meta:
        columns["title"] = index.item_titles.take(top[valid])
    return pa.RecordBatch.from_pydict(columns)


class ScoreUserBlocks(beam.DoFn):
    """Loads the embeddings once per worker; scores one block of users per element."""

    def __init__(self, version_dir: str, k: int, weights: RankingWeights, block_size: int):
        self._version_dir, self._k, self._weights, self._block = version_dir, k, weights, block_size

    def setup(self):
        self._index = EmbeddingIndex(self._version_dir)
        self._scorer = self._index.scorer(self._k, self._weights)
        self._progress = Progress("Scoring users", "users", total=len(self._index.users), logger=log)

    def process(self, start: int):
        users = np.arange(start, min(start + self._block, len(self._index.users)))
        beam.metrics.Metrics.counter("recommend_all", "users").inc(len(users))
        self._progress.add(len(users))
        yield pa.Table.from_batches([recommend_block(self._index, self._scorer, users, self._weights)])


def _to_csv(table: pa.Table) -> str:
    """A block of rows as CSV text, one Beam element per block (WriteToText adds the final newline)."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue().to_pybytes().decode().rstrip("\n")


def build_pipeline(p: beam.Pipeline, version_dir: str, index: EmbeddingIndex, output_dir: str, k: int,
                   weights: RankingWeights, block_size: int, csv: bool) -> None:
    blocks = (p
              | "UserBlocks" >> beam.Create(list(range(0, len(index.users), block_size)))
              | "SpreadBlocks" >> beam.Reshuffle()
              | "ScoreBlocks" >> beam.ParDo(ScoreUserBlocks(version_dir, k, weights, block_size)))
    schema = output_schema(index)
    _ = blocks | "WriteParquet" >> beam.io.WriteToParquetBatched(
        os.path.join(output_dir, OUTPUT_PREFIX), schema=schema, file_name_suffix=".parquet")
    if csv:
        _ = (blocks
             | "ToCsv" >> beam.Map(_to_csv)
             | "WriteCsv" >> beam.io.WriteToText(os.path.join(output_dir, OUTPUT_PREFIX), file_name_suffix=".csv",
                                                 header=",".join(schema.names)))


def run(config: RecommendAllConfig) -> dict:
    """Top k for every user to Parquet (and CSV); the ranking weights are the model's unless the config gives
    them."""
    options = pipeline_options(list(config.beam_args))
    output_dir, k = config.output, config.k
    version_dir = resolve_version(config.model)
    index = EmbeddingIndex(version_dir)  # checks the model here, before any worker starts
    n_users = len(index.users)
    weights = index.ranking_weights(config.popularity_weight, config.rating_weight)
    if not is_dry_run(options):  # a dry run writes nothing
        mf.prepare_output(output_dir, config.overwrite)
    log.info("Recommending top %d of %d items for %d users from %s on %s", k, len(index.items), n_users,
             version_dir, runner_name(options))
    started = datetime.datetime.now(datetime.timezone.utc)
    p = beam.Pipeline(options=options)
    build_pipeline(p, version_dir, index, output_dir, k, weights, config.block_size or DEFAULT_BLOCK, config.csv)
    result = run_pipeline(p, options)
    if is_dry_run(options):
        return {"dry_run": True, "job": getattr(result, "job", None), "pipeline": p}
    manifest = mf.read_json(os.path.join(version_dir, mf.MANIFEST))
    summary = {**mf.provenance(manifest["spec"]["name"], manifest["input"]["path"]), "model_version": version_dir,
               "users": n_users, "items": len(index.items), "k": k, **weights.to_dict(),
               "runner": runner_name(options), "pipeline_options": describe_options(options),
               "started_at": started.isoformat(timespec="seconds"),
               "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    mf.write_json(os.path.join(output_dir, "summary.json"), summary)
    mf.mark_success(output_dir)
    log.info("Wrote %d recommendations per user for %d users to %s", k, n_users, output_dir)
    return summary
