"""tf.data input from a preprocess output: gzip TFRecords -> (features, label) batches.

Three ways to feed training:

- **Streaming** (any size): records -> shuffle buffer -> batch -> `parse_example`.
  Records are batched before parsing so parsing runs once per batch, but
  tf.data's shuffle still handles every record on its own, and that bounds
  the pipeline (~180-270K examples/s on two cores).
- **In memory** (when the split fits in a share of RAM): the split is read and
  parsed once into columns; each epoch is then a fresh seeded permutation
  (`index_shuffle`, stateless, so reproducible) taken one batch at a time
  with one gather per feature.  No per-record work is left in the loop, and
  every epoch still sees every example exactly once in a new order.
- **Per worker** (a parameter-server cluster): each worker streams its own
  share of the files (`worker_fit_fn`), so the chief ships no data.

The train split is cut in two before anything looks at it: the **fit**
part the model learns from, and a seeded **validation** slice
(VALIDATION_FRACTION of the examples) that early stopping, the learning-rate
schedule, the ranking weights and the trees' and blend's options are chosen
on.  The eval split only reports: nothing is selected on it.

The slice is drawn by a keyed hash of each record's row key (ROW_KEY, which
preprocess writes: a hash of the row's raw values), not of its transformed
values: z-scores from TFT's combiners differ in their last bits between
preprocess runs of the same data, and even equal records serialize with
their features in another order, so a hash of the serialized record moved
rows between the slices (a loans table's slice held 860, 806, 804 and 767
rows in four runs, and choices made on it swung).  Raw values are
exact, so the same rows land in the same slice for the same seed in every
run, in memory and streaming alike, whatever the transforms do with those
values, and a table of floats alone splits as well as one with ids.  Each
rating is its own row, so every user keeps ~90% of their ratings in the fit
part.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os

import numpy as np
import tensorflow as tf

from stage_contracts.manifest import ROW_KEY, split_pattern
from trainer.memory import release_freed_memory

log = logging.getLogger(__name__)
READ_BATCH = 65536
VALIDATION_FRACTION = 0.1
_FOLD_BUCKETS = 1000
_FOLD = "__validation__"  # the fold column while a split is read into memory
PARTS = ("all", "fit", "validation", "tagged")  # tagged: all rows, each with its fold in one more column
DEFAULT_MEMORY_FRACTION = 0.25  # the default budget: a quarter of this machine's RAM
_BYTES_PER_VALUE = 8
_ASSUMED_VALUES_PER_MULTIVALENT_ROW = 4


def split_files(preprocess_dir: str, split: str) -> list[str]:
    files = sorted(tf.io.gfile.glob(split_pattern(preprocess_dir, split)))
    if not files:
        raise FileNotFoundError(f"No {split} TFRecords under {os.path.join(preprocess_dir, split)}")
    return files


def in_validation(row_keys: tf.Tensor, seed: int) -> tf.Tensor:
    """Whether each example (by its int64 ROW_KEY) belongs to the validation slice: a keyed hash, the same for the
    same seed."""
    bucket = tf.strings.to_hash_bucket_strong(tf.strings.as_string(row_keys), _FOLD_BUCKETS, key=[seed, 0x5EED])
    return bucket < int(VALIDATION_FRACTION * _FOLD_BUCKETS)


def _rows(features: dict, mask: tf.Tensor) -> dict:
    """The rows of a parsed batch where `mask` holds (sparse features through ragged rows)."""
    return {name: (tf.ragged.boolean_mask(tf.RaggedTensor.from_sparse(value), mask).to_sparse()
                   if isinstance(value, tf.SparseTensor) else tf.boolean_mask(value, mask))
            for name, value in features.items()}


def make_dataset(files: list[str], feature_spec: dict, label_key: str, batch_size: int, shuffle: bool = False,
                 seed: int = 0, shuffle_buffer: int = 100_000, part: str = "all",
                 fold_seed: int = 0, shard: tuple[int, int] | None = None) -> tf.data.Dataset:
    """Streaming batches of (features, label); `feature_spec` is TFTransformOutput.transformed_feature_spec().

    `part`: "all" rows, only the "fit" part or the "validation" slice
    (`in_validation` with `fold_seed`; their batches hold fewer than
    `batch_size` rows), or all rows "tagged" with their fold.  `shard`:
    (count, index), only this reader's share: every count-th file, or every
    count-th record when there are fewer files than readers.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    by_file = shard is not None and len(files) >= shard[0]
    if by_file:
        files = files[shard[1]::shard[0]]
    # Parallel reads pay only with several files: with one file the interleave machinery
    # reads in small pieces and runs ~10x slower than a plain sequential read.
    parallel = min(len(files), 4) if len(files) > 1 else None
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", buffer_size=8 << 20, num_parallel_reads=parallel)
    if shard is not None and not by_file:
        ds = ds.shard(*shard)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def parse(records):
        if part == "all":
            return _split_label(tf.io.parse_example(records, feature_spec), label_key)
        features = tf.io.parse_example(records, {**feature_spec, ROW_KEY: tf.io.FixedLenFeature([], tf.int64)})
        validation = in_validation(features.pop(ROW_KEY), fold_seed)
        if part == "tagged":
            features[_FOLD] = validation
        else:
            features = _rows(features, validation if part == "validation" else tf.logical_not(validation))
        return _split_label(features, label_key)

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        ds = ds.with_options(_training_stream_options())
    return ds.prefetch(tf.data.AUTOTUNE)


def _training_stream_options() -> tf.data.Options:
    """A private pool of a quarter of the cores (at least one) for the stream that feeds `fit`.

    tf.data's autotuned pool takes threads from every core while the training step wants them too: at 20M
    ratings on 2 cores the stream fed `fit` at 20,000 examples/s against 28,700 from memory, and at 30,400
    with one thread of its own (one thread reads, shuffles and parses 150,000+ records a second, several
    times what training takes here).  A quarter leaves a many-core worker's stream room to keep up.
    """
    options = tf.data.Options()
    options.threading.private_threadpool_size = max(1, (os.cpu_count() or 1) // 4)
    options.threading.max_intra_op_parallelism = 1
    return options


def worker_fit_fn(files: list[str], feature_spec: dict, label_key: str, batch_size: int, seed: int):
    """The dataset function each worker of a parameter-server cluster builds its training input with (Keras'
    `DatasetCreator`): the fit part streamed from the worker's share of the files, shuffled with a seed of its
    own, endlessly (the chief counts the epoch's steps).  Workers read the files themselves, so nothing the chief
    holds in memory is shipped to them."""

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        pipelines, index = context.num_input_pipelines, context.input_pipeline_id
        return make_dataset(files, feature_spec, label_key, context.get_per_replica_batch_size(batch_size),
                            shuffle=True, seed=seed * pipelines + index, part="fit", fold_seed=seed,
                            shard=(pipelines, index)).repeat()

    return dataset_fn


def worker_validation_fn(files: list[str], feature_spec: dict, label_key: str, seed: int):
    """The dataset function of a parameter-server cluster's validation: the validation slice streamed from the
    files, which Keras' exact evaluation deals out to the workers in shards of files
    (trainer/distribution.py: `evaluation_shards`)."""

    def dataset_fn(_context: tf.distribute.InputContext) -> tf.data.Dataset:  # Keras shards it, not the context
        return make_dataset(files, feature_spec, label_key, READ_BATCH, part="validation", fold_seed=seed)

    return dataset_fn


def _split_label(features: dict, label_key: str):
    features = dict(features)
    label = features.pop(label_key)
    return features, label


def estimated_bytes(num_examples: int, feature_spec: dict) -> int:
    """Memory the parsed split takes as columns (multivalent features counted at a few values a row)."""
    values = sum(_ASSUMED_VALUES_PER_MULTIVALENT_ROW + 1 if isinstance(f, tf.io.VarLenFeature) else 1
                 for f in feature_spec.values())
    return num_examples * values * _BYTES_PER_VALUE


def default_memory_budget() -> int:
    """Bytes the parsed train split may take when no budget is given: DEFAULT_MEMORY_FRACTION of this machine's RAM
    (the rest is left to the model, its optimizer state, evaluation and other processes)."""
    return int(DEFAULT_MEMORY_FRACTION * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def fits_in_memory(num_examples: int, feature_spec: dict, budget_bytes: int | None = None) -> bool:
    """Whether the parsed split takes at most `budget_bytes` (None: `default_memory_budget()`)."""
    budget = default_memory_budget() if budget_bytes is None else budget_bytes
    return estimated_bytes(num_examples, feature_spec) <= budget


@dataclasses.dataclass(frozen=True)
class ExampleColumns:
    """A whole split parsed into one tensor per feature (ragged for multivalent ones) and the label."""

    features: dict
    label: tf.Tensor

    @property
    def num_examples(self) -> int:
        return int(self.label.shape[0])

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.num_examples / batch_size)

    def shuffled_batches(self, batch_size: int, seed: int) -> tf.data.Dataset:
        """An endless stream of batches, a new permutation each epoch; fit with `steps_per_epoch`.

        Step s belongs to epoch s // steps_per_epoch; its rows are positions
        [b*batch, (b+1)*batch) of that epoch's permutation, so the stream is
        the same for the same seed whatever the parallelism.
        """
        per_epoch = self.steps_per_epoch(batch_size)

        def batch_at(step):
            epoch, index = step // per_epoch, step % per_epoch
            rows = tf.random.experimental.index_shuffle(self._positions(index, batch_size),
                                                        tf.stack([tf.constant(seed, tf.int64), epoch]),
                                                        self.num_examples - 1)
            return self._take(rows)

        return (tf.data.Dataset.counter()
                .map(batch_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))

    def batches(self, batch_size: int) -> tf.data.Dataset:
        """One pass in stored order (for evaluation)."""
        return (tf.data.Dataset.range(self.steps_per_epoch(batch_size))
                .map(lambda index: self._take(self._positions(index, batch_size)))
                .prefetch(tf.data.AUTOTUNE))

    def _positions(self, index: tf.Tensor, batch_size: int) -> tf.Tensor:
        """Positions [index*batch, (index+1)*batch) of an epoch; the last batch may be short."""
        return tf.range(index * batch_size, tf.minimum((index + 1) * batch_size, self.num_examples))

    def _take(self, rows: tf.Tensor):
        features = {name: (tf.gather(column, rows).to_sparse() if isinstance(column, tf.RaggedTensor)
                           else tf.gather(column, rows))
                    for name, column in self.features.items()}
        return features, tf.gather(self.label, rows)


def read_columns(files: list[str], feature_spec: dict, label_key: str,
                 fold_seed: int | None = None) -> ExampleColumns | tuple[ExampleColumns, ExampleColumns]:
    """Read and parse a whole split once, in large batches; with `fold_seed`, as its (fit, validation) parts.

    The batches are gathered, joined and cut as numpy arrays, and each column becomes a tensor once, at the end:
    TensorFlow's CPU allocator (oneDNN's, by default on x86) keeps what it has handed out, so batches joined and
    then masked as tensors held ~4 GiB more than the 0.87 GiB of columns at 18M ratings, for the whole run.
    """
    parts: dict[str, list] = {}
    labels = []
    for features, label in make_dataset(files, feature_spec, label_key, READ_BATCH,
                                        part="all" if fold_seed is None else "tagged", fold_seed=fold_seed or 0):
        labels.append(label.numpy())
        for name, value in features.items():
            parts.setdefault(name, []).append(_numpy_rows(value))
    columns = {name: _joined(values) for name, values in parts.items()}
    label = np.concatenate(labels)
    del parts, labels
    release_freed_memory()  # glibc kept the batches' freed blocks: 1.06 of 2.85 GiB resident at 18M ratings
    log.info("Loaded %d examples from %d file(s) into memory", len(label), len(files))
    if fold_seed is None:
        return _example_columns(columns, label)
    validation = columns.pop(_FOLD)
    return (_example_columns({name: _rows_where(c, ~validation) for name, c in columns.items()}, label[~validation]),
            _example_columns({name: _rows_where(c, validation) for name, c in columns.items()}, label[validation]))


@dataclasses.dataclass(frozen=True)
class _RaggedRows:
    """A multivalent column in numpy: every row's values one after another, and each row's length."""

    values: np.ndarray
    lengths: np.ndarray


def _numpy_rows(value: tf.Tensor | tf.SparseTensor) -> np.ndarray | _RaggedRows:
    if isinstance(value, tf.SparseTensor):  # a VarLenFeature: its values are in row order
        rows = value.indices[:, 0].numpy()
        return _RaggedRows(value.values.numpy(), np.bincount(rows, minlength=int(value.dense_shape[0])))
    return value.numpy()


def _joined(batches: list) -> np.ndarray | _RaggedRows:
    if isinstance(batches[0], _RaggedRows):
        return _RaggedRows(np.concatenate([b.values for b in batches]), np.concatenate([b.lengths for b in batches]))
    return np.concatenate(batches)


def _rows_where(column: np.ndarray | _RaggedRows, mask: np.ndarray) -> np.ndarray | _RaggedRows:
    if isinstance(column, _RaggedRows):
        return _RaggedRows(column.values[np.repeat(mask, column.lengths)], column.lengths[mask])
    return column[mask]


def _example_columns(columns: dict, label: np.ndarray) -> ExampleColumns:
    return ExampleColumns({name: (tf.RaggedTensor.from_row_lengths(c.values, c.lengths.astype(np.int64, copy=False))
                                  if isinstance(c, _RaggedRows) else tf.constant(c)) for name, c in columns.items()},
                          tf.constant(label))


@dataclasses.dataclass(frozen=True)
class TrainingInput:
    """What `fit` needs from the train split: its fit part (endless or streamed), one plain pass over that part, and
    one over the validation slice (None when the train split is not cut)."""

    dataset: tf.data.Dataset
    steps_per_epoch: int | None  # set when `dataset` is endless (in memory)
    one_pass: tf.data.Dataset
    in_memory: bool
    validation: tf.data.Dataset | None = None


def training_input(files: list[str], feature_spec: dict, label_key: str, batch_size: int, seed: int,
                   num_examples: int, in_memory: bool | None = None, validation: bool = True,
                   memory_budget_bytes: int | None = None) -> TrainingInput:
    """In memory when the split fits (`in_memory=None` decides by `memory_budget_bytes`, default a quarter of RAM),
    streaming otherwise; with `validation`, the split is cut into its fit part and validation slice (seeded by
    `seed`)."""
    if in_memory is None:
        budget = default_memory_budget() if memory_budget_bytes is None else memory_budget_bytes
        in_memory = fits_in_memory(num_examples, feature_spec, budget)
        if not in_memory:
            log.info("The train split's %d examples (~%.2f GB parsed) exceed the memory budget (%.2f GB): streaming",
                     num_examples, estimated_bytes(num_examples, feature_spec) / 1e9, budget / 1e9)
    fold_seed = seed if validation else None
    if not in_memory:
        log.info("Streaming the train split from %d file(s) (a shuffle buffer of records)", len(files))
        fit = "fit" if validation else "all"
        return TrainingInput(
            make_dataset(files, feature_spec, label_key, batch_size, shuffle=True, seed=seed, part=fit,
                         fold_seed=seed), None,
            make_dataset(files, feature_spec, label_key, READ_BATCH, part=fit, fold_seed=seed), in_memory=False,
            validation=(make_dataset(files, feature_spec, label_key, READ_BATCH, part="validation", fold_seed=seed)
                        if validation else None))
    if fold_seed is None:
        columns = read_columns(files, feature_spec, label_key)
        return TrainingInput(columns.shuffled_batches(batch_size, seed), columns.steps_per_epoch(batch_size),
                             columns.batches(READ_BATCH), in_memory=True)
    columns, held = read_columns(files, feature_spec, label_key, fold_seed)
    log.info("Validation slice: %d of the train split's examples (selection only; the eval split only reports)",
             held.num_examples)
    return TrainingInput(columns.shuffled_batches(batch_size, seed), columns.steps_per_epoch(batch_size),
                         columns.batches(READ_BATCH), in_memory=True, validation=held.batches(READ_BATCH))
