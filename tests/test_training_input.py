"""The trainer's in-memory input and lazy optimizer: fast, but the same examples and the same maths."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
import tensorflow_transform as tft

from stage_contracts import manifest as mf
from stage_contracts.errors import OutputError
from trainer.data import VALIDATION_FRACTION, ExampleColumns, make_dataset, read_columns, split_files, training_input
from trainer.optimizers import LazyAdam

from conftest import BRIEF_EPOCHS, assert_equivalent_models


def _columns(n: int) -> ExampleColumns:
    ids = tf.range(n, dtype=tf.int64)
    tags = tf.RaggedTensor.from_row_lengths(tf.range(n * 2, dtype=tf.int64) // 2, tf.fill([n], 2))
    return ExampleColumns({"id": ids, "tags": tags}, tf.cast(ids, tf.float32) / 10)


def _epochs(columns: ExampleColumns, batch: int, seed: int, epochs: int) -> list[np.ndarray]:
    steps = columns.steps_per_epoch(batch)
    out, current = [], []
    for step, (features, label) in enumerate(columns.shuffled_batches(batch, seed).take(steps * epochs)):
        ids = features["id"].numpy()
        np.testing.assert_allclose(label.numpy(), ids / 10, rtol=1e-6)  # rows stay aligned across columns
        tags = tf.sparse.to_dense(features["tags"]).numpy()
        np.testing.assert_array_equal(tags, np.stack([ids, ids], axis=1))
        current.append(ids)
        if (step + 1) % steps == 0:
            out.append(np.concatenate(current))
            current = []
    return out


def test_each_in_memory_epoch_is_a_new_permutation_of_every_example():
    columns = _columns(1000)
    epochs = _epochs(columns, batch=96, seed=7, epochs=3)  # 11 steps an epoch, the last one partial
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(epochs[0], np.arange(1000))
    again = _epochs(columns, batch=96, seed=7, epochs=3)
    assert all(np.array_equal(a, b) for a, b in zip(epochs, again))
    assert not np.array_equal(_epochs(columns, batch=96, seed=8, epochs=1)[0], epochs[0])


def test_in_memory_columns_hold_the_same_examples_as_the_files(preprocessed):
    prep = preprocessed[0]
    spec = tft.TFTransformOutput(prep).transformed_feature_spec()
    files = split_files(prep, mf.TRAIN_DIR)

    def rows(batches) -> list[tuple]:
        out = []
        for features, label in batches:  # numpy per batch: an eager op per example and column took minutes
            users, movies, labels = (t.numpy() for t in (features["user_id"], features["movie_id"], label))
            genres = tf.sparse.to_dense(features["genres"], default_value=-1).numpy()
            out += [(int(u), int(m), float(y), tuple(g for g in row if g >= 0))
                    for u, m, y, row in zip(users, movies, labels, genres)]
        return sorted(out)

    columns = read_columns(files, spec, "rating")
    streamed = rows(make_dataset(files, spec, "rating", 4096))
    assert columns.num_examples == len(streamed)
    assert rows(columns.batches(5000)) == streamed


def _pairs(batches) -> set[tuple[int, int]]:
    return {(int(u), int(m)) for features, _ in batches
            for u, m in zip(features["user_id"].numpy(), features["movie_id"].numpy())}


def test_the_validation_slice_is_cut_from_train_and_never_touches_eval(preprocessed):
    """Selection looks at a seeded tenth of the train split: disjoint from the fit part and from eval, the same in
    memory and streamed, another slice for another seed."""
    prep = preprocessed[0]
    spec = tft.TFTransformOutput(prep).transformed_feature_spec()
    files = split_files(prep, mf.TRAIN_DIR)
    train = _pairs(make_dataset(files, spec, "rating", 4096))
    evaluation = _pairs(make_dataset(split_files(prep, mf.EVAL_DIR), spec, "rating", 4096))
    in_memory = training_input(files, spec, "rating", 256, seed=3, num_examples=len(train), in_memory=True)
    streamed = training_input(files, spec, "rating", 256, seed=3, num_examples=len(train), in_memory=False)
    validation, fit = _pairs(in_memory.validation), _pairs(in_memory.one_pass)
    assert validation == _pairs(streamed.validation) and fit == _pairs(streamed.one_pass)
    assert validation | fit == train and not validation & fit and not validation & evaluation
    assert abs(len(validation) / len(train) - VALIDATION_FRACTION) < 0.02
    users_with_validation = {u for u, _ in validation}
    assert len(users_with_validation) > 0.9 * len({u for u, _ in train})  # a share of each user's ratings
    other = training_input(files, spec, "rating", 256, seed=4, num_examples=len(train), in_memory=True)
    assert _pairs(other.validation) != validation


def _float_records(path: str, x: np.ndarray) -> None:
    """A table of floats alone (x and a label, the row's index) with each row's ROW_KEY, as preprocess writes it."""
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i, value in enumerate(x):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[value])),
                "label": tf.train.Feature(float_list=tf.train.FloatList(value=[float(i)])),
                mf.ROW_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[i * 7919 + 13])),
            })).SerializeToString())


def test_the_validation_slice_keeps_its_rows_when_transformed_floats_move_in_their_last_bit(tmp_path):
    """Two preprocess runs of the same rows may write z-scores a bit apart (TFT's combiners sum in other orders):
    the slice is drawn by the row key, so the same rows are held out, about a tenth of them, in memory and streamed."""
    x = np.random.default_rng(0).normal(size=3000).astype(np.float32)
    runs = {"first": x, "second": np.nextafter(x, np.float32(np.inf))}  # every float one ulp up
    spec = {"x": tf.io.FixedLenFeature([], tf.float32), "label": tf.io.FixedLenFeature([], tf.float32)}
    held = {}
    for name, values in runs.items():
        _float_records(str(tmp_path / f"{name}.tfrecord.gz"), values)
        files = [str(tmp_path / f"{name}.tfrecord.gz")]
        for in_memory in (True, False):
            part = training_input(files, spec, "label", 256, seed=3, num_examples=len(x), in_memory=in_memory)
            rows = sorted(int(y) for _, label in part.validation for y in label.numpy())
            held[name, in_memory] = rows
    assert len(set(map(tuple, held.values()))) == 1
    assert abs(len(held["first", True]) / len(x) - VALIDATION_FRACTION) < 0.02


def test_a_preprocess_output_without_row_keys_is_refused_with_what_to_do():
    with pytest.raises(OutputError, match="format_version 1: its records carry no __row_key__.*Rerun preprocess"):
        mf.check_row_keys({"format_version": 1}, "prep/old")
    mf.check_row_keys({"format_version": mf.FORMAT_VERSION}, "prep/new")


def _two_steps(optimizer) -> tuple[np.ndarray, np.ndarray]:
    table = tf.Variable(np.ones((5, 2), np.float32))
    after = []
    for rows in ([0, 1], [2]):
        gradient = tf.IndexedSlices(tf.ones((len(rows), 2)), tf.constant(rows), tf.constant([5, 2]))
        optimizer.apply_gradients([(gradient, table)])
        after.append(table.numpy().copy())
    return after[0], after[1]


def test_lazy_adam_matches_adam_on_touched_rows_and_leaves_the_others():
    lazy_first, lazy_second = _two_steps(LazyAdam(0.1))
    dense_first, dense_second = _two_steps(keras.optimizers.Adam(0.1))
    np.testing.assert_allclose(lazy_first, dense_first, rtol=1e-6)  # first step: no history, same update
    np.testing.assert_array_equal(lazy_second[:2], lazy_first[:2])  # rows 0-1 not in step 2: untouched
    assert not np.allclose(dense_second[:2], dense_first[:2])  # dense Adam keeps moving them by momentum
    np.testing.assert_allclose(lazy_second[2], dense_second[2], rtol=1e-6)  # row 2: first update either way
    np.testing.assert_array_equal(lazy_second[3:], np.ones((2, 2)))


@pytest.mark.slow  # two trainings: the streamed one and the in-memory reference (trained_briefly)
def test_a_split_over_the_memory_budget_streams_to_the_same_model(preprocessed, trained_briefly, tmp_path):
    from trainer import task
    from trainer.config import TrainConfig

    streamed = task.train(TrainConfig(input=preprocessed[0], job_dir=str(tmp_path / "job"),
                                      model_dir=str(tmp_path / "model"), seed=3, epochs=BRIEF_EPOCHS,
                                      memory_budget_gb=0.0001))
    assert streamed.metrics["model"]["rmse"] < streamed.metrics["baseline_mean"]["rmse"], streamed.metrics
    assert_equivalent_models(streamed.version_dir, streamed.metrics, trained_briefly.version_dir,
                             trained_briefly.metrics)


def test_the_memory_budget_decides_between_memory_and_streaming(preprocessed):
    from trainer.data import estimated_bytes, fits_in_memory

    spec = tft.TFTransformOutput(preprocessed[0]).transformed_feature_spec()
    need = estimated_bytes(50_000, spec)
    assert fits_in_memory(50_000, spec, need) and not fits_in_memory(50_000, spec, need - 1)
