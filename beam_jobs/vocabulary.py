"""Vocabularies counted a batch at a time: one TFT analyzer whose Beam elements are count tables.

TFT's `tft.vocabulary` hands Beam one element per distinct token per batch
and sends each through a chain of about a dozen steps (sum per key, filter,
top-k, sort, write); with 70,000 distinct users and movies per batch that
chain took 40% of a 1M-row job.  Here the graph reduces each batch to its
distinct tokens and their counts, Beam carries that as one Arrow table,
tables merge by hashing the tokens in Arrow's C++, and the final table is
filtered, ranked and written as the very file TFT writes:
one token per line, most frequent first, ties broken by the larger token,
empty tokens and tokens with a line break left out, a placeholder token
when nothing is left.  `tft.apply_vocabulary`, `TFTransformOutput`'s
vocabulary lookups and TFT's analyzer cache (per span, Arrow IPC bytes)
work on it as on TFT's own.
"""

from __future__ import annotations

import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform import analyzers as tft_analyzers

# The tokens TFT leaves out of text vocabularies (empty, or holding a line break), by TFT's own pattern.
UNWRITABLE_TOKEN = tft_analyzers.get_vocab_newline_characters_regex(tf.string, "text")
COUNTS_SCHEMA = pa.schema([("token", pa.large_binary()), ("count", pa.int64())])
TABLES_BEFORE_MERGE = 8
PLACEHOLDER_TOKEN = tft_analyzers.get_empy_vocabulary_dummy_value(tf.string)[1]  # TFT's, for a vocabulary with no token


def vocabulary(tokens: tf.Tensor, name: str, top_k: int | None = None,
               frequency_threshold: int | None = None) -> tf.Tensor:
    """The path of the vocabulary file of `tokens` (a string tensor), for `tft.apply_vocabulary`.

    Same contract as `tft.vocabulary(tokens, top_k=..., frequency_threshold=...,
    vocab_filename=name)`: the file is registered under `name`.
    """
    filename = tft_analyzers.sanitized_vocab_filename(name)
    with tf.name_scope(filename):
        tokens = tf.reshape(tokens, [-1])
        tokens = tf.boolean_mask(tokens, tf.logical_not(tf.strings.regex_full_match(tokens, UNWRITABLE_TOKEN)))
        distinct, _, counts = tf.unique_with_counts(tokens, out_idx=tf.int64)
        analyzer = tft.experimental.CacheablePTransformAnalyzer(
            make_accumulators_ptransform=CountTables(),
            merge_accumulators_ptransform=SumCountTables(),
            extract_output_ptransform=WriteVocabularyFile(filename, top_k, frequency_threshold or 0),
            cache_coder=CountTableCoder())
        (path,) = tft.experimental.ptransform_analyzer(
            [distinct, counts], analyzer, output_dtypes=[tf.string], output_shapes=[[]],
            output_asset_default_values=[PLACEHOLDER_TOKEN], name="count_tables")
    tft_analyzers.register_vocab(filename)
    return path


class _StableRepr:
    """TFT keys its analyzer cache on the repr of the steps before it; Beam's default repr holds an object id."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CountTables(_StableRepr, beam.PTransform):
    """Each batch's (distinct tokens, counts) arrays -> one Arrow table."""

    def expand(self, batches):
        return batches | "ToCountTable" >> beam.Map(count_table)


class SumCountTables(_StableRepr, beam.PTransform):
    """All count tables -> one, each token's counts summed."""

    def expand(self, tables):
        return tables | "SumCounts" >> beam.CombineGlobally(_SumCountsFn())


class WriteVocabularyFile(tft_beam.experimental.PTransformAnalyzer):
    """The summed table -> the vocabulary file in TFT's temporary folder; outputs its path."""

    def __init__(self, filename: str, top_k: int | None, frequency_threshold: int):
        super().__init__()
        self._filename, self._top_k, self._frequency_threshold = filename, top_k, frequency_threshold

    def expand(self, merged):
        path = os.path.join(self.base_temp_dir, self._filename)
        return merged | "RankAndWrite" >> beam.Map(write_vocabulary, path, self._top_k, self._frequency_threshold)


class CountTableCoder(tft.experimental.PTransformAnalyzerCacheCoder):
    """A count table as Arrow IPC bytes, for TFT's per-span analyzer cache."""

    def encode_cache(self, table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, COUNTS_SCHEMA) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    def decode_cache(self, encoded: bytes) -> pa.Table:
        return pa.ipc.open_stream(encoded).read_all()


def count_table(arrays: tuple[np.ndarray, np.ndarray]) -> pa.Table:
    """One batch's distinct tokens and counts, as TFT hands them over, as a table."""
    tokens, counts = arrays
    return pa.table([pa.array(tokens, pa.large_binary()), pa.array(counts, pa.int64())], schema=COUNTS_SCHEMA)


def sum_counts(tables: list[pa.Table]) -> pa.Table:
    """One table with each token once and its counts summed.

    Dictionary-encoding the tokens (Arrow's C++ hash) and a bincount of the
    counts is about three times faster than Arrow's group-by here, and its
    output is freshly allocated: a group-by's output chunks are slices of
    shared buffers, and pickling a slice (how Beam moves the table between
    steps) writes the whole shared buffer, some 25 times the table's size.
    """
    if len(tables) == 1:
        return tables[0]
    if not tables:
        return COUNTS_SCHEMA.empty_table()
    merged = pa.concat_tables(tables)
    tokens = merged["token"].combine_chunks().dictionary_encode()
    counts = np.bincount(tokens.indices.to_numpy(), weights=merged["count"].to_numpy(),
                         minlength=len(tokens.dictionary))
    return pa.table([tokens.dictionary, pa.array(counts.astype(np.int64))], schema=COUNTS_SCHEMA)


class _SumCountsFn(beam.CombineFn):
    """Keeps a list of count tables and sums them once there are a few (bounded memory, few merges)."""

    def create_accumulator(self) -> list[pa.Table]:
        return []

    def add_input(self, tables: list[pa.Table], table: pa.Table) -> list[pa.Table]:
        tables.append(table)
        return [sum_counts(tables)] if len(tables) >= TABLES_BEFORE_MERGE else tables

    def merge_accumulators(self, accumulators) -> list[pa.Table]:
        return [sum_counts([table for tables in accumulators for table in tables])]

    def extract_output(self, tables: list[pa.Table]) -> pa.Table:
        return sum_counts(tables)


def ranked_tokens(table: pa.Table, top_k: int | None, frequency_threshold: int) -> list[bytes]:
    """Tokens counted at least `frequency_threshold` times, most frequent first, ties by larger token."""
    if frequency_threshold > 0:
        table = table.filter(pc.greater_equal(table["count"], frequency_threshold))
    order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("token", "descending")])
    if top_k is not None:
        order = order[:top_k]
    return table["token"].take(order).to_pylist()


def write_vocabulary(table: pa.Table, path: str, top_k: int | None, frequency_threshold: int) -> np.ndarray:
    tokens = ranked_tokens(table, top_k, frequency_threshold) or [PLACEHOLDER_TOKEN]
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(b"\n".join(tokens) + b"\n")
    return np.array(path)
