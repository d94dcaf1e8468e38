"""Every vocabulary of a spec counted in one pass: one TFT analyzer whose Beam elements are count tables.

TFT's `tft.vocabulary` hands Beam one element per distinct token per batch
and sends each through a chain of about a dozen steps (sum per key, filter,
top-k, sort, write), per vocabulary: with 70,000 distinct users and movies
per batch that chain took 40% of a 1M-row job, and a spec with 50
vocabularies has 50 such chains, a fixed cost of about a second each on
DirectRunner and hundreds of steps in a Dataflow job.  Here the graph
reduces each batch to the distinct tokens of every vocabulary and their
counts, tagged with the vocabulary's index; Beam carries that as one Arrow
table per batch, tables merge by hashing (vocabulary, token) in Arrow's
C++, and the final table is split by vocabulary, filtered, ranked and
written as the very files TFT writes, one per vocabulary: one token per
line, most frequent first, ties broken by the larger token, empty tokens and
tokens with a line break left out, a placeholder token when nothing is
left.  Each file is registered under its vocabulary's name, so
`tft.apply_vocabulary`, `TFTransformOutput.vocabulary_by_name` and TFT's
analyzer cache (per span, Arrow IPC bytes) work on them as on TFT's own.
The same step writes one lookup file of every vocabulary's prefixed
tokens, and the job looks every feature up in that one table
(`TokenCounts.ids`), not in a table per vocabulary.
"""

from __future__ import annotations

import dataclasses
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform import analyzer_nodes, nodes
from tensorflow_transform import analyzers as tft_analyzers
from tensorflow_transform import tf_utils

from features.analyzers import TokenCounts

# The tokens TFT leaves out of text vocabularies (empty, or holding a line break), by TFT's own pattern.
UNWRITABLE_TOKEN = tft_analyzers.get_vocab_newline_characters_regex(tf.string, "text")
COUNTS_SCHEMA = pa.schema([("vocabulary", pa.int32()), ("token", pa.large_binary()), ("count", pa.int64())])
TABLES_BEFORE_MERGE = 8
LOOKUP_FILENAME = "all_vocabularies.lookup"  # not a sanitized vocabulary name (those have no dot): no clash
PLACEHOLDER_TOKEN = tft_analyzers.get_empy_vocabulary_dummy_value(tf.string)[1]  # TFT's, for a vocabulary with no token


def vocabularies(requests: list[TokenCounts]) -> None:
    """Count every request's tokens in one analyzer and look every request's values up in one table.

    Same contract per request as `tft.vocabulary(text, top_k=...,
    frequency_threshold=..., vocab_filename=name)`: the file is registered
    under the request's name and becomes its `result`.  Each request also
    gets its values' positions in its vocabulary (`TokenCounts.positions`),
    looked up in one hash table over every vocabulary's prefixed tokens:
    TFT's `apply_vocabulary` builds a table per vocabulary, and each table is
    a resource the transform SavedModel traces, saves and restores with
    functions of its own, some 0.2 s per vocabulary on every job (49
    vocabularies: 11 of a 2,000-row job's 18 s).
    """
    if not requests:
        return
    filenames = [tft_analyzers.sanitized_vocab_filename(r.name) for r in requests]
    with tf.name_scope("vocabularies"):
        # All vocabularies' tokens in one vector, each prefixed by its vocabulary's index (fixed width, so
        # the prefix is unambiguous): a constant number of ops per batch, however many vocabularies.
        texts = [tf.reshape(r.text.values if isinstance(r.text, tf.SparseTensor) else r.text, [-1]) for r in requests]
        sizes = tf.stack([tf.size(t) for t in texts])
        index = tf.repeat(tf.range(len(requests), dtype=tf.int64), sizes)
        width = len(str(len(requests) - 1))
        tokens = tf.concat(texts, 0)
        keys = tf.strings.join([tf.strings.as_string(index, width=width, fill="0"), tokens])
        writable = tf.logical_not(tf.strings.regex_full_match(tokens, UNWRITABLE_TOKEN))
        distinct, _, counts = tf.unique_with_counts(tf.boolean_mask(keys, writable), out_idx=tf.int64)
        vocabulary_index = tf.strings.to_number(tf.strings.substr(distinct, 0, width), tf.int32)
        distinct_tokens = tf.strings.substr(distinct, width, tf.int32.max)
        settings = [VocabularySettings(f, r.top_k, r.min_count or 0) for f, r in zip(filenames, requests)]
        *paths, lookup_path, starts = _count_tables_analyzer([vocabulary_index, distinct_tokens, counts], settings)
        lines, _ = tf_utils.construct_and_lookup_table(_line_table, lookup_path, keys)
        positions = tf.split(tf.where(lines < 0, lines, lines - tf.gather(starts, index)), sizes)
    for i, (filename, request, path) in enumerate(zip(filenames, requests, paths)):
        tft_analyzers.register_vocab(filename)
        request.result = path
        request.size = starts[i + 1] - starts[i]
        if isinstance(request.text, tf.SparseTensor):
            request.positions = tf.SparseTensor(request.text.indices, positions[i], request.text.dense_shape)
        else:
            request.positions = tf.reshape(positions[i], tf.shape(request.text))


def _line_table(path: tf.Tensor) -> tf.lookup.StaticHashTable:
    """Each line of the lookup file -> its line number; -1 for a key not in it."""
    initializer = tf.lookup.TextFileInitializer(path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
    return tf.lookup.StaticHashTable(initializer, default_value=-1)


def _count_tables_analyzer(inputs: list[tf.Tensor], settings: list["VocabularySettings"]) -> tuple[tf.Tensor, ...]:
    """`tft.experimental.ptransform_analyzer` with a `CacheablePTransformAnalyzer`, but one output per vocabulary.

    Outputs: each vocabulary's file, the lookup file, and where each
    vocabulary starts in the lookup file (one more entry: its length).

    TFT's public function gives every stage of a cacheable analyzer the
    outputs of the last and refuses a cacheable stage with more than one; here
    the counting and merging stages (the cached part) have one output, the
    count table, and only the writing stage has one per vocabulary file.
    The same steps TFT's `_apply_analyzer` takes, with the outputs split so.
    """
    table_info = [analyzer_nodes.TensorInfo(tf.string, [], None)]
    file_info = analyzer_nodes.TensorInfo(tf.string, [], analyzer_nodes.TemporaryAssetInfo(PLACEHOLDER_TOKEN, "text"))
    file_infos = [file_info] * (len(settings) + 1) + [analyzer_nodes.TensorInfo(tf.int64, [len(settings) + 1], None)]
    with tf.compat.v1.name_scope("count_tables"):
        inputs_node = analyzer_nodes.get_input_tensors_value_nodes(inputs)
        with tf.compat.v1.name_scope("make_accumulators"):
            accumulated = nodes.apply_multi_output_operation(
                analyzer_nodes.PTransform, inputs_node, ptransform=CountTables(), is_partitionable=True,
                output_tensor_info_list=table_info)
        with tf.compat.v1.name_scope("local_merge_accumulators"):
            cached = nodes.apply_multi_output_operation(
                analyzer_nodes.PTransform, *accumulated, ptransform=SumCountTables(), is_partitionable=True,
                cache_coder=CountTableCoder(), output_tensor_info_list=table_info)
        with tf.compat.v1.name_scope("global_merge_accumulators"):
            merged = nodes.apply_multi_output_operation(
                analyzer_nodes.PTransform, *cached, ptransform=SumCountTables(), is_partitionable=False,
                output_tensor_info_list=table_info)
        with tf.compat.v1.name_scope("extract_output"):
            written = nodes.apply_multi_output_operation(
                analyzer_nodes.PTransform, *merged, ptransform=WriteVocabularyFiles(settings), is_partitionable=False,
                output_tensor_info_list=file_infos)
    return tuple(map(analyzer_nodes.wrap_as_tensor, written))


@dataclasses.dataclass(frozen=True)
class VocabularySettings:
    """What one vocabulary's file keeps, and its name."""

    filename: str
    top_k: int | None
    frequency_threshold: int


class _StableRepr:
    """TFT keys its analyzer cache on the repr of the steps before it; Beam's default repr holds an object id."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CountTables(_StableRepr, beam.PTransform):
    """Each batch's (vocabulary indices, distinct tokens, counts) arrays -> one Arrow table."""

    def expand(self, batches):
        return batches | "ToCountTable" >> beam.Map(count_table)


class SumCountTables(_StableRepr, beam.PTransform):
    """All count tables -> one, each (vocabulary, token)'s counts summed."""

    def expand(self, tables):
        return tables | "SumCounts" >> beam.CombineGlobally(_SumCountsFn())


class WriteVocabularyFiles(tft_beam.experimental.PTransformAnalyzer):
    """The summed table -> one vocabulary file per vocabulary in TFT's temporary folder; outputs their paths.

    One step writes them all; its tagged outputs are the paths, one
    PCollection per vocabulary, as TFT expects of an analyzer's outputs.
    """

    def __init__(self, settings: list[VocabularySettings]):
        super().__init__()
        self._settings = settings

    def expand(self, merged):
        tags = [str(i) for i in range(len(self._settings) + 2)]
        written = merged | "RankAndWrite" >> beam.FlatMap(
            _tagged_paths, self._settings, self.base_temp_dir).with_outputs(*tags)
        return tuple(written[tag] for tag in tags)


def _tagged_paths(table: pa.Table, settings: list[VocabularySettings], folder: str):
    """Each vocabulary's path, then the lookup file's path and the vocabularies' starts in it, as tagged outputs."""
    paths, lookup_path, starts = write_vocabularies(table, settings, folder)
    for index, output in enumerate([*paths, lookup_path, starts]):
        yield beam.pvalue.TaggedOutput(str(index), output)


class CountTableCoder(tft.experimental.PTransformAnalyzerCacheCoder):
    """A count table as Arrow IPC bytes, for TFT's per-span analyzer cache."""

    def encode_cache(self, table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, COUNTS_SCHEMA) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    def decode_cache(self, encoded: bytes) -> pa.Table:
        return pa.ipc.open_stream(encoded).read_all()


def count_table(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> pa.Table:
    """One batch's vocabulary indices, distinct tokens and counts, as TFT hands them over, as a table."""
    vocabulary, tokens, counts = arrays
    return pa.table([pa.array(vocabulary, pa.int32()), pa.array(tokens, pa.large_binary()),
                     pa.array(counts, pa.int64())], schema=COUNTS_SCHEMA)


def sum_counts(tables: list[pa.Table]) -> pa.Table:
    """One table with each (vocabulary, token) once and its counts summed.

    Dictionary-encoding the tokens (Arrow's C++ hash), then the pairs
    (vocabulary, token index) as one integer, and a bincount of the counts
    is about three times faster than Arrow's group-by here, and its output
    is freshly allocated: a group-by's output chunks are slices of shared
    buffers, and pickling a slice (how Beam moves the table between steps)
    writes the whole shared buffer, some 25 times the table's size.
    """
    if len(tables) == 1:
        return tables[0]
    if not tables:
        return COUNTS_SCHEMA.empty_table()
    merged = pa.concat_tables(tables)
    tokens = merged["token"].combine_chunks().dictionary_encode()
    distinct_tokens = len(tokens.dictionary)
    pairs = merged["vocabulary"].to_numpy().astype(np.int64) * distinct_tokens + tokens.indices.to_numpy()
    encoded = pa.array(pairs).dictionary_encode()
    counts = np.bincount(encoded.indices.to_numpy(), weights=merged["count"].to_numpy(),
                         minlength=len(encoded.dictionary))
    keys = encoded.dictionary.to_numpy()
    return pa.table([pa.array((keys // distinct_tokens).astype(np.int32)),
                     tokens.dictionary.take(pa.array(keys % distinct_tokens)),
                     pa.array(counts.astype(np.int64))], schema=COUNTS_SCHEMA)


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


def write_vocabularies(table: pa.Table, settings: list[VocabularySettings],
                       folder: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Each vocabulary's file from the rows of the summed table that carry its index, and the lookup file.

    The lookup file holds every vocabulary's tokens in order, each prefixed
    by its vocabulary's index as the graph prefixes them, so a token's line
    number less its vocabulary's start is its id.  Returns the vocabularies'
    paths, the lookup file's path and the starts (one more: the file's length).
    """
    order = pc.sort_indices(table, sort_keys=[("vocabulary", "ascending")])
    table = table.take(order)
    starts = np.searchsorted(table["vocabulary"].to_numpy(), np.arange(len(settings) + 1))
    tf.io.gfile.makedirs(folder)
    width = len(str(len(settings) - 1))
    paths, lines, line_starts = [], [], [0]
    for index, vocabulary in enumerate(settings):
        rows = table.slice(starts[index], starts[index + 1] - starts[index])
        tokens = ranked_tokens(rows, vocabulary.top_k, vocabulary.frequency_threshold) or [PLACEHOLDER_TOKEN]
        path = os.path.join(folder, vocabulary.filename)
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(b"\n".join(tokens) + b"\n")
        paths.append(np.array(path))
        prefix = f"{index:0{width}d}".encode()
        lines += [prefix + token for token in tokens]
        line_starts.append(len(lines))
    lookup_path = os.path.join(folder, LOOKUP_FILENAME)
    with tf.io.gfile.GFile(lookup_path, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    return paths, np.array(lookup_path), np.array(line_starts, dtype=np.int64)
