"""Preprocess's id table of the train split, and the model preparation that reads it instead of the records."""

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from beam_jobs.preprocess import id_table_columns
from stage_contracts import manifest as mf
from stage_contracts.errors import OutputError
from features.spec import load_spec, spec_from_dict
from trainer.data import in_validation, split_files, training_input
from trainer.id_table import IdTable
from trainer.model import TrainingData, build_model
from trainer.task import id_table_of, read_side_table

SEED = 3


def _records(out: str) -> dict[str, np.ndarray]:
    """Every train record's ids, label and row key, parsed from the TFRecords."""
    spec = {name: tf.io.FixedLenFeature([], tf.int64) for name in ("user_id", "movie_id", mf.ROW_KEY)}
    spec["rating"] = tf.io.FixedLenFeature([], tf.float32)
    parts = [tf.io.parse_example(batch, spec) for batch in
             tf.data.TFRecordDataset(split_files(out, mf.TRAIN_DIR), compression_type="GZIP").batch(20_000)]
    return {name: np.concatenate([p[name].numpy() for p in parts]) for name in spec}


def _sorted_rows(columns: dict, names: tuple[str, ...]) -> np.ndarray:
    rows = np.stack([columns[name].astype(np.float64) for name in names], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def test_preprocess_lists_an_id_table_holding_each_train_record_once(preprocessed):
    out, manifest = preprocessed
    assert manifest["layout"]["id_table"] == mf.ID_TABLE_DIR
    assert manifest["id_table"]["columns"] == ["user_id", "movie_id", "rating", mf.ROW_KEY]
    train = manifest["counts"]["kept"]["train"]
    assert manifest["id_table"]["rows"] == train
    table = pq.read_table([*tf.io.gfile.glob(mf.id_table_pattern(out))]).to_pydict()
    names = ("user_id", "movie_id", "rating", mf.ROW_KEY)
    records = _records(out)
    assert len(table[mf.ROW_KEY]) == len(records[mf.ROW_KEY]) == train
    np.testing.assert_array_equal(_sorted_rows({k: np.array(v) for k, v in table.items()}, names),
                                  _sorted_rows(records, names))


def test_only_specs_with_ids_write_an_id_table():
    assert id_table_columns(load_spec("movielens")) == ("user_id", "movie_id", "rating")
    assert id_table_columns(load_spec("housing")) == ()  # a table model learns no per-id vectors


def _prepared(out: str, manifest: dict, table: IdTable | None):
    spec = spec_from_dict(manifest["spec"])
    tft_output = tft.TFTransformOutput(out)
    streamed = training_input(split_files(out, mf.TRAIN_DIR), tft_output.transformed_feature_spec(),
                              spec.label.column, 1024, SEED, manifest["counts"]["kept"]["train"], in_memory=False)
    data = TrainingData(spec, tft_output, read_side_table(out, manifest), streamed.one_pass, None,
                        streamed.validation, table)
    model = build_model(spec, manifest)
    model.prepare(data)
    return model, data


def test_the_preparation_from_the_id_table_equals_the_one_from_the_records(preprocessed):
    out, manifest = preprocessed
    table = IdTable.of(out, manifest, SEED)
    assert table is not None
    from_records, records_data = _prepared(out, manifest, None)
    from_table, table_data = _prepared(out, manifest, table)
    ids = from_table.id_features
    for part in ("fit", "validation", "train"):
        np.testing.assert_array_equal(_sorted_rows(table_data.columns(part, ids), (*ids, "label")),
                                      _sorted_rows(records_data.columns(part, ids), (*ids, "label")))
    history, reference = from_table.user_history.rows, from_records.user_history.rows
    np.testing.assert_array_equal(history.row_splits.numpy(), reference.row_splits.numpy())
    np.testing.assert_array_equal(history.flat_values.numpy(), reference.flat_values.numpy())
    np.testing.assert_array_equal(from_table._fit_counts, from_records._fit_counts)
    np.testing.assert_array_equal(from_table.label_range.numpy(), from_records.label_range.numpy())
    for name in ("user_bias", "item_bias"):
        np.testing.assert_allclose(getattr(from_table, name).embeddings.numpy(),
                                   getattr(from_records, name).embeddings.numpy(), atol=1e-5)
    np.testing.assert_allclose(from_table.retrieval.pick_bias.embeddings.numpy(),
                               from_records.retrieval.pick_bias.embeddings.numpy(), atol=1e-6)
    np.testing.assert_array_equal(from_table._held_out.users, from_records._held_out.users)
    for got, want in zip(from_table._held_out.relevant + from_table._held_out.rated,
                         from_records._held_out.relevant + from_records._held_out.rated):
        np.testing.assert_array_equal(got, want)


def test_histories_from_the_id_table_hold_no_validation_item(preprocessed):
    out, manifest = preprocessed
    table = IdTable.of(out, manifest, SEED)
    model, data = _prepared(out, manifest, table)
    fit, validation = (data.columns(part, model.id_features) for part in ("fit", "validation"))
    assert len(fit["label"]) + len(validation["label"]) == manifest["counts"]["kept"]["train"]
    assert 0.08 < len(validation["label"]) / manifest["id_table"]["rows"] < 0.12
    records = _records(out)
    held = in_validation(tf.constant(records[mf.ROW_KEY]), SEED).numpy()
    assert held.sum() == len(validation["label"])
    splits = model.user_history.rows.row_splits.numpy()
    users = np.repeat(np.arange(len(splits) - 1), np.diff(splits))
    history = set(zip(users.tolist(), model.user_history.rows.flat_values.numpy().tolist()))
    fit_pairs = set(zip(records["user_id"][~held].tolist(), records["movie_id"][~held].tolist()))
    only_validation = set(zip(records["user_id"][held].tolist(), records["movie_id"][held].tolist())) - fit_pairs
    assert only_validation and not history & only_validation
    assert history <= fit_pairs


def test_an_output_written_before_the_id_table_takes_the_record_path(preprocessed, caplog):
    out, manifest = preprocessed
    older = {key: value for key, value in manifest.items() if key != "id_table"}
    with caplog.at_level("INFO", logger="trainer.task"):
        assert id_table_of(out, older, spec_from_dict(manifest["spec"]), SEED) is None
    assert "no id table" in caplog.text and "parsing every train record" in caplog.text


def test_an_id_table_that_lost_rows_is_refused_naming_it(preprocessed):
    out, manifest = preprocessed
    table = IdTable.of(out, manifest, SEED)
    with pytest.raises(OutputError, match=r"train_ids holds fewer than the \d+ rows"):
        IdTable(table.files, table.columns, table.rows + 1, SEED).read(("user_id", "movie_id"), "rating")
    with pytest.raises(OutputError, match=r"train_ids holds more than the \d+ rows"):
        IdTable(table.files, table.columns, table.rows - 1, SEED).read(("user_id", "movie_id"), "rating")
