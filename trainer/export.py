"""Export: a SavedModel that takes raw rows, in a TF Serving version folder.

The serving graph is the whole product: it looks up joined attributes (a
movie's title and genres) in a table stored inside the model, replays the
TFT transform graph, and calls the Keras model.  Two signatures, and a third
for two-tower models whose user tower reads the user's history:

- `serving_default`: a batch of serialized tf.Example holding the raw columns.
- `predict`: one named tensor per raw column.

Both answer in the label's units (`ServingModule.answer`): a price where
the model learned log(price); class names and their probabilities for a
classification label.
- `user_vector`: the raw ids of the items a user rated (strings) -> that
  user's vector, for a user the model never saw (`recommend --history`).

Clients send what they have (userId, movieId), never transformed ids.
Unknown ids fall into out-of-vocabulary buckets; a missing column is an
error that names it.  Loading needs TensorFlow only.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tf_keras.src.saving.legacy.saved_model import utils as keras_saved_model_utils  # save_traces: no public switch

from stage_contracts.progress import timed
from features.spec import FeatureSpec
from features.graph import TF_TYPES, raw_columns, raw_feature_spec
from trainer.catalogue import vocabulary
from embedding_uses.rated import HISTORY_MAX_ITEMS
from stage_contracts.model_dir import new_version
from stage_contracts.signatures import signature_input_names

log = logging.getLogger(__name__)
PREDICTION_KEY = "prediction"


class ServingModule(tf.Module):
    """Raw features -> joined attributes -> TFT graph -> model -> prediction."""

    def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput, spec: FeatureSpec,
                 side_table: pa.Table | None, label: dict | None = None):
        super().__init__()
        self.model = model
        classes = (label or {}).get("classes")
        self.classes = tf.constant(classes, tf.string) if spec.label.is_classification and classes else None
        self.tft_layer = tft_output.transform_features_layer()
        self._spec = spec
        self._optional = {c.name: c for c in raw_columns(spec) if not c.required}
        self._label = spec.label.column
        self._label_dtype = TF_TYPES[spec.column(self._label).type]
        if spec.join and side_table is not None:
            keys = side_table.column(spec.join.key).to_numpy()
            self.side_index = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64), tf.range(len(keys), dtype=tf.int64)),
                default_value=-1)
            # One extra row at the end stands for "not in the table": empty values.
            self.side_values = {
                name: tf.Variable(np.array(side_table.column(name).fill_null("").to_pylist() + [""], dtype=object),
                                  trainable=False, name=f"side_{name}")
                for name in spec.join.columns}
        if model.serves_new_users:
            item_ids = vocabulary(tft_output, model.item_id)
            self.item_index = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(item_ids, tf.string),
                                                    tf.range(len(item_ids), dtype=tf.int64)), default_value=-1)

    def new_user_vector(self, item_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        """A new user's vector from the raw ids of the items they rated; ids the model does not know are skipped,
        a repeated id counts once, and at most HISTORY_MAX_ITEMS are read."""
        index = self.item_index.lookup(item_ids)
        known = tf.unique(tf.boolean_mask(index, index >= 0)).y[:HISTORY_MAX_ITEMS]  # as a training history
        return {"user_vector": self.model.new_user_vector(known), "known_items": tf.size(known, out_type=tf.int64)}

    def predict_raw(self, raw: dict) -> tf.Tensor:
        raw = dict(raw)
        batch = _rows_of_one_request(raw)
        if self._spec.join:
            index = self.side_index.lookup(tf.cast(raw[self._spec.join.key], tf.int64))
            missing_row = tf.shape(next(iter(self.side_values.values())), out_type=tf.int64)[0] - 1
            index = tf.where(index < 0, missing_row, index)
            for name, values in self.side_values.items():
                raw[name] = tf.gather(values, index)
        for name, column in self._optional.items():
            if not isinstance(raw[name], tf.SparseTensor):
                raw[name] = _dense_to_sparse(raw[name], column.type)
        raw.setdefault(self._label, tf.zeros([batch], self._label_dtype))
        transformed = self.tft_layer(raw)
        transformed.pop(self._label, None)
        return self.model(transformed, training=False)


    def answer(self, raw: dict) -> dict[str, tf.Tensor]:
        """The prediction in the label's units: a price, not log(price); for classes, the probability of each
        class with the class names (`prediction`: a binary label's positive class's probability, a multiclass
        label's most likely class)."""
        predicted = self.predict_raw(raw)
        if self._spec.label.transform == "log":
            return {PREDICTION_KEY: tf.exp(predicted)}
        if self.classes is None:
            return {PREDICTION_KEY: predicted}
        probabilities = (tf.stack([1.0 - predicted, predicted], axis=1) if self._spec.label.is_binary
                         else predicted)
        rows = tf.shape(probabilities)[0]
        names = tf.tile(self.classes[None, :], [rows, 1])
        best = tf.gather(self.classes, tf.argmax(probabilities, axis=1))
        return {PREDICTION_KEY: predicted if self._spec.label.is_binary else best,
                "probabilities": probabilities, "classes": names}


def _rows_of_one_request(raw: dict) -> tf.Tensor:
    """The request's row count, after checking every column has it: a short column is an error, never broadcast."""
    sizes = {name: tf.shape(value, out_type=tf.int64)[0] for name, value in raw.items()}
    first, batch = next(iter(sizes.items()))
    for name, size in sizes.items():
        tf.debugging.assert_equal(size, batch, message=f"request columns differ in length: {name} has a different "
                                                       f"number of values than {first}")
    return tf.cast(batch, tf.int32)


def _dense_to_sparse(values: tf.Tensor, column_type: str) -> tf.SparseTensor:
    """A dense request column where '' (strings) or NaN (numbers) means "no value"."""
    values = tf.expand_dims(values, 1)
    present = tf.not_equal(values, "") if column_type == "string" else tf.math.is_finite(tf.cast(values, tf.float32))
    indices = tf.where(present)
    return tf.SparseTensor(indices, tf.gather_nd(values, indices), tf.shape(values, out_type=tf.int64))


def _signatures(module: ServingModule, spec: FeatureSpec) -> dict:
    serving = spec.serving_columns()
    example_spec = {k: v for k, v in raw_feature_spec(spec, include_label=False).items()
                    if k in {c.name for c in serving}}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        raw = tf.io.parse_example(examples, example_spec)
        return module.answer(raw)

    names = signature_input_names([c.name for c in serving])

    @tf.function(input_signature=[{c.name: tf.TensorSpec([None], TF_TYPES[c.type], name=names[c.name])
                                   for c in serving}])
    def serve_tensors(features):
        return module.answer(features)

    signatures = {"serving_default": serve_examples, "predict": serve_tensors.get_concrete_function()}
    if module.model.serves_new_users:
        signatures["user_vector"] = tf.function(
            module.new_user_vector, input_signature=[tf.TensorSpec([None], tf.string, name="item_ids")])
    return signatures


def export_model(module: ServingModule, spec: FeatureSpec, model_dir: str, extra_files: dict[str, str],
                 write_extras, version: int | None = None) -> str:
    """Write MODEL_DIR/<version>/ through a temporary folder renamed last, so it appears whole or not at all.

    `extra_files` maps names to text written beside the SavedModel (metrics.json,
    manifest.json); `write_extras(folder)` writes anything else (embeddings/).
    """
    version = version or new_version()
    while tf.io.gfile.exists(os.path.join(model_dir, str(version))):
        version += 1
    final = os.path.join(model_dir, str(version))
    staging = os.path.join(model_dir, f".tmp-{version}")
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
    try:
        tf.io.gfile.makedirs(staging)
        # Keras would also trace every layer's own call for `keras.models.load_model`, which nothing here uses
        # (clients call the signatures), and tracing them is most of a wide model's export time.
        with timed("Saved the SavedModel (serving signatures on raw features)", log), \
                keras_saved_model_utils.keras_option_scope(save_traces=False):
            tf.saved_model.save(module, staging, signatures=_signatures(module, spec))
        for name, text in extra_files.items():
            with tf.io.gfile.GFile(os.path.join(staging, name), "w") as f:
                f.write(text)
        write_extras(staging)
        tf.io.gfile.rename(staging, final)
    except BaseException:  # a failed export (disk full, an error) leaves no temporary folder behind
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
        raise
    log.info("Exported model version %d to %s", version, final)
    return final

