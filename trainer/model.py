"""Keras models built from a spec and the manifest's vocabulary sizes.

Categorical features (vocabularies, buckets, hashed crosses) become
embeddings of the manifest's dimension; multivalent ones average their
embeddings; z-scored numbers enter as they are.  Two shapes of model:

- `TwoTowerModel` for ratings: a user tower and an item tower whose dot
  product, plus user and item biases and the global mean, predicts the
  rating.  Item vectors then support cosine nearest neighbours and
  user x item scores support fast top-K.
- `DNNModel` for tables: all features into a DNN with one output
  (regression, or a probability for binary classification), or one
  probability per class (multiclass).

Models are tf_keras (Keras 2), as TFT's transform layer requires.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from features.model_types import DNN, ModelType, TwoTower
from features.spec import FeatureSpec
from features.transforms import Feature
from trainer.optimizers import LazyAdam
from trainer.catalogue import batched, item_rows, transform_rows
from trainer.history import UserHistory
from trainer.id_table import IdTable
from trainer.metrics import BIAS_PSEUDO_RATINGS, BiasBaseline
from trainer.ranking_monitor import METRIC as RANKING_METRIC, HeldOutPositives, RankingMonitor, choose_weights
from embedding_uses.ranking_score import ItemScores
from trainer.references import POSITIVE_RATING
from trainer.retrieval import FULL_SOFTMAX_MAX_ITEMS, Candidates, RetrievalTask
from trainer.sparse_l2 import penalise_rows

log = logging.getLogger(__name__)

_KERAS_MODELS: dict[type[ModelType], type["SpecModel"]] = {}
UNKNOWN_USER_SHARE = 0.1  # training examples whose user tower sees the user as unknown (DropoutNet, Volkovs 2017)


def builds(model_type: type[ModelType]):
    """Register the Keras model that a spec's model type (features/model_types.py) builds."""

    def register(cls: type["SpecModel"]) -> type["SpecModel"]:
        _KERAS_MODELS[model_type] = cls
        return cls

    return register


class FeatureEncoder(keras.layers.Layer):
    """Concatenates the model inputs of a group of features into one vector per row."""

    def __init__(self, features: list[Feature], manifest_features: dict, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.feature_names = [f.name for f in features]
        self._multivalent = {f.name for f in features if f.is_multivalent}
        self.lookups = {f.name for f in features if f.is_lookup}  # tables whose rows are a vocabulary's tokens
        self._widths = {f.name: f.width for f in features}
        self.l2 = l2
        self.embeddings = {}
        for f in features:
            if f.is_categorical:
                info = manifest_features[f.name]
                self.embeddings[f.name] = keras.layers.Embedding(
                    info["cardinality"], info["embedding_dim"], name=f"{f.name}_embedding")

    def call(self, features: dict) -> tf.Tensor:
        """With `l2`, each example's embedding rows are penalised (trainer/sparse_l2.py: gradients stay sparse)."""
        parts = []
        for name in self.feature_names:
            value = features[name]
            if name in self.embeddings:
                layer = self.embeddings[name]
                if name in self._multivalent:
                    if not layer.built:
                        layer.build((None,))
                    parts.append(tf.nn.safe_embedding_lookup_sparse(layer.embeddings, value, combiner="mean"))
                else:
                    parts.append(layer(tf.reshape(value, [-1])))
                penalise_rows(self, parts[-1], self.l2, tf.shape(parts[-1])[0])
            else:
                parts.append(tf.reshape(tf.cast(value, tf.float32), [-1, self._widths[name]]))
        return tf.concat(parts, axis=1)


def _tower(units: tuple[int, ...], output_dim: int | None, dropout: float, name: str) -> keras.Sequential:
    layers = []
    for i, u in enumerate(units):
        layers.append(keras.layers.Dense(u, activation="relu", name=f"{name}_dense_{i}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    if output_dim:
        layers.append(keras.layers.Dense(output_dim, name=f"{name}_output"))
    return keras.Sequential(layers, name=name)


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """What a model may look at, besides its spec: the transform output and the data's parts.

    "fit": the part of the train split the model learns from; "validation":
    the slice of the train split that selection (early stopping, ranking
    weights) looks at; "train": both; "eval": the eval split, which only
    reports.  `columns` reads a part's id columns and labels once (a pass
    over 18M examples takes tens of seconds); preparing the model and
    evaluating it share them.  With `id_table` (preprocess's table of the
    train split's ids, trainer/id_table.py) the train parts' columns come
    from it, without parsing the records; the eval split's always come from
    its records.
    """

    spec: FeatureSpec
    tft_output: tft.TFTransformOutput
    side_table: pa.Table | None
    train_one_pass: tf.data.Dataset  # the fit part
    eval_one_pass: tf.data.Dataset | None = None
    validation_one_pass: tf.data.Dataset | None = None
    id_table: IdTable | None = None
    _read: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def columns(self, split: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The `keys` columns and "label" of "fit", "validation", "train" (both) or "eval", as flat numpy arrays."""
        if (split, keys) not in self._read:
            if split != "eval" and self.id_table is not None and self.id_table.holds(keys, self.spec.label.column):
                for part, columns in self.id_table.read(keys, self.spec.label.column).items():
                    self._read[(part, keys)] = columns
            elif split == "train":
                parts = [self.columns(name, keys) for name in ("fit", "validation") if self.has(name)]
                self._read[(split, keys)] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            else:
                dataset = {"fit": self.train_one_pass, "validation": self.validation_one_pass,
                           "eval": self.eval_one_pass}[split]
                self._read[(split, keys)] = collect(None, dataset, keys)
        return self._read[(split, keys)]

    def has(self, split: str) -> bool:
        return {"validation": self.validation_one_pass, "eval": self.eval_one_pass}.get(split, True) is not None


def collect(model: keras.Model | None, dataset: tf.data.Dataset, keys: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Labels, predictions (None: the label itself) and the named transformed features over a whole dataset."""
    out: dict[str, list] = {"label": [], "prediction": [], **{k: [] for k in keys}}
    for features, label in dataset:
        out["label"].append(tf.reshape(label, [-1]).numpy())
        predicted = (model(features, training=False) if model is not None else label).numpy()
        out["prediction"].append(predicted.reshape(len(out["label"][-1]), -1))  # one column, or one per class
        for k in keys:
            out[k].append(tf.reshape(features[k], [-1]).numpy())
    result = {k: np.concatenate(v) for k, v in out.items()}
    if result["prediction"].ndim == 2 and result["prediction"].shape[1] == 1:
        result["prediction"] = result["prediction"][:, 0]
    return result


class SpecModel(keras.Model):
    """A model built from a spec: it says which embedding tables it has and whether it learns user and item ids."""

    id_features: tuple[str, str] | None = None  # (user id, item id) features, for models that learn per-id vectors

    @property
    def serves_new_users(self) -> bool:
        """Whether `new_user_vector(items)` can describe a user unknown at training by the items they rated."""
        return False

    def prepare(self, data: TrainingData) -> None:
        """Anything the model needs from the data before `fit` (nothing, unless a model says otherwise)."""

    def fit_model(self, data: TrainingData, fit_keras) -> dict:
        """Train; returns the history (lists per epoch, with "loss" and the early-stopping metric).  A Keras
        model runs `fit_keras(model, *extra_callbacks)`, the trainer's loop with its callbacks; models with trees
        train them too."""
        return fit_keras(self)

    @property
    def choices(self) -> dict:
        """Settings this model chose on the validation slice while fitting, for metrics.json (none by default)."""
        return {}

    def parts(self) -> dict:
        """Parts of a blended model, by name: functions of transformed features whose eval figures are reported
        beside the model's (none by default)."""
        return {}

    def finish(self, data: TrainingData) -> dict:
        """After `fit`: choices made on the validation slice that metrics.json reports (none unless a model says)."""
        return {}

    def get_config(self) -> dict:
        """Keras' base config only: a model is rebuilt from its spec and manifest (build_model), never from a config;
        defining it keeps Keras from warning at export that the spec is not serializable."""
        return {"name": self.name, "trainable": self.trainable}

    def build_every_layer(self, features: dict) -> None:
        """Create every variable (before weights are restored into them) by running each path once on `features`."""
        self(features)

    def encoders(self) -> list[FeatureEncoder]:
        raise NotImplementedError

    def callbacks(self) -> list[keras.callbacks.Callback]:
        """Callbacks of the model's own training recipe, run before the trainer's (none unless a model says)."""
        return []

    @property
    def early_stopping(self) -> tuple[str, str]:
        """(logged metric, "min" or "max") that early stopping and the best checkpoint watch."""
        return "val_loss", "min"

    def embedding_tables(self) -> dict[str, tf.Variable]:
        """Each categorical feature's trained embedding table, by feature name."""
        return {name: layer.embeddings for enc in self.encoders() for name, layer in enc.embeddings.items()}

    def vocabulary_tables(self) -> list[tuple[tf.Variable, str]]:
        """Every built variable whose rows are a vocabulary feature's ids, with that feature (warm starts carry its
        rows over by token)."""
        return [(layer.embeddings, name) for enc in self._all_encoders() for name, layer in enc.embeddings.items()
                if layer.built and name in enc.lookups]

    def _all_encoders(self) -> list[FeatureEncoder]:
        return self.encoders()


@builds(TwoTower)
class TwoTowerModel(SpecModel):
    """Two heads on one user tower.  The rating head: rating = <user_tower(u), rating_item_tower(i)> + user_bias +
    item_bias + global mean, clipped at serving to the train labels' range.  The retrieval head (with a retrieval
    weight): which item a user picks, a softmax over items of scale * <u, item_tower(i)> + pick_bias
    (trainer/retrieval.py).

    The heads share the user tower and every embedding table (ids, genres, the
    history); each has its own item tower, so the vectors that rank, find
    neighbours and draw maps spread as the softmax wants while the rating
    head fits stars (one shared dot product served both and was best at
    neither: on real ratings the rating fell back to the bias-only baseline).
    Without a retrieval weight there is one item tower, read through a
    learned `rating_scale`.  The retrieval loss joins the rating loss only
    inside `fit` (its train and validation steps), so predictions,
    evaluation and serving trace no loss.
    """

    def __init__(self, spec: FeatureSpec, manifest: dict, **kwargs):
        super().__init__(**kwargs)
        cfg = spec.model
        mf = manifest["features"]
        self.user_features = list(cfg.user_features)
        self.item_features = list(cfg.item_features)
        self.user_id, self.item_id = cfg.user_id, cfg.item_id
        self.unknown_user_index = mf[cfg.user_id]["vocabulary_size"]  # the first out-of-vocabulary row
        self.id_features = (cfg.user_id, cfg.item_id)
        self.user_encoder = FeatureEncoder([spec.feature(n) for n in cfg.user_features], mf, cfg.l2, name="user_features")
        self.item_encoder = FeatureEncoder([spec.feature(n) for n in cfg.item_features], mf, cfg.l2, name="item_features")
        self.user_tower = _tower(cfg.hidden_units, cfg.output_dim, cfg.dropout, "user_tower")
        self.item_tower = _tower(cfg.hidden_units, cfg.output_dim, cfg.dropout, "item_tower")
        self.rating_item_tower = (_tower(cfg.hidden_units, cfg.output_dim, cfg.dropout, "rating_item_tower")
                                  if cfg.retrieval_weight else None)
        zeros = keras.initializers.Zeros()
        self.user_bias = keras.layers.Embedding(mf[cfg.user_id]["cardinality"], 1, embeddings_initializer=zeros,
                                                name="user_bias")
        self.item_bias = keras.layers.Embedding(mf[cfg.item_id]["cardinality"], 1, embeddings_initializer=zeros,
                                                name="item_bias")
        self.global_mean = self.add_weight(
            name="global_mean", shape=(), trainable=False,
            initializer=keras.initializers.Constant(manifest["label"]["train_mean"]))
        # The rating reads the towers' dot product through its own learned scale: the retrieval softmax wants
        # vectors whose dot products spread widely, which as a rating term would only add noise.
        # Only a model with one item tower reads it (rating_item_vectors): elsewhere it is kept, untrained, so every
        # model has the same variables, and Keras does not warn at each step that it has no gradient.
        self.rating_scale = self.add_weight(name="rating_scale", shape=(), trainable=not cfg.retrieval_weight,
                                            initializer=keras.initializers.Constant(1.0))
        # Predictions stay inside the ratings the train split shows (set by `prepare`): a rating head extrapolates
        # past 5 stars for a user and a film both rated high.
        self.label_range = self.add_weight(name="label_range", shape=(2,), trainable=False,
                                           initializer=keras.initializers.Constant([-np.inf, np.inf]))
        self.retrieval_weight, self.retrieval_negatives = cfg.retrieval_weight, cfg.retrieval_negatives
        self.user_history = (UserHistory(mf[cfg.item_id]["cardinality"], cfg.output_dim, cfg.l2, cfg.history_dropout,
                                         name="user_history") if cfg.user_history else None)
        self.retrieval = RetrievalTask(mf[cfg.item_id]["cardinality"], name="retrieval") if cfg.retrieval_weight else None
        self._rating_weight = cfg.label_weight
        self._bias_shrinkage: tuple[tf.Tensor, tf.Tensor] | None = None  # set by `prepare`
        self._catalogue: dict | None = None  # every known item's features (`prepare`, with a retrieval objective)
        self._held_out: HeldOutPositives | None = None  # validation positives selection watches (likewise)
        self._fit_counts: np.ndarray | None = None  # ratings of each item in the fit part (likewise)
        self._in_fit = False

    def encoders(self) -> list[FeatureEncoder]:
        return [self.user_encoder, self.item_encoder]

    @property
    def serves_new_users(self) -> bool:
        return self.user_history is not None

    def prepare(self, data: TrainingData) -> None:
        """From one pass over the fit part: each id's rating count (bias shrinkage) and the bias-only baseline
        the biases start from, each user's history (with `user_history`), and retrieval's negatives (how often
        each item is picked, the pick bias starting from its log share); with a retrieval objective, the
        validation slice's positives that early stopping watches."""
        train = data.columns("fit", self.id_features)
        users, items, labels = train[self.user_id], train[self.item_id], train["label"]
        self._bias_shrinkage = (_per_example_shrinkage(users, self.user_bias.input_dim),
                                _per_example_shrinkage(items, self.item_bias.input_dim))
        if len(labels):
            self.label_range.assign([float(labels.min()), float(labels.max())])
        baseline = BiasBaseline().fit(users, items, labels, self.user_bias.input_dim, self.item_bias.input_dim)
        _set_table(self.user_bias, baseline.user_bias[:, None])
        _set_table(self.item_bias, baseline.item_bias[:, None])
        if self.user_history is not None:
            self.user_history.remember_pairs(users, items)
        if self.retrieval is not None:
            self._prepare_retrieval(data, users, items)

    def _prepare_retrieval(self, data: TrainingData, users: np.ndarray, items: np.ndarray) -> None:
        counts = np.bincount(items, minlength=self.retrieval.num_items).astype(np.float64)
        self._fit_counts = counts
        every_item = transform_rows(data.tft_output, data.spec, item_rows(data.spec, data.tft_output, data.side_table))
        self._catalogue = {name: every_item[name] for name in self.item_features}
        n_known = data.tft_output.vocabulary_size_by_name(self.item_id)
        negatives = self.retrieval_negatives
        full = negatives == "full" or (negatives == "auto" and n_known <= FULL_SOFTMAX_MAX_ITEMS)
        log.info("Retrieval objective: %s negatives over %d items", "full-softmax" if full else "in-batch", n_known)
        self.retrieval.candidates = Candidates.from_counts(counts, self._catalogue if full else None)
        _set_table(self.retrieval.pick_bias, self.retrieval.candidates.log_q.numpy()[:, None])
        if data.has("validation"):
            held_out = data.columns("validation", self.id_features)
            good = held_out["label"] >= POSITIVE_RATING
            self._held_out = HeldOutPositives.sample((users, items), (held_out[self.user_id][good],
                                                                      held_out[self.item_id][good]),
                                                     self.unknown_user_index, n_known)

    def finish(self, data: TrainingData) -> dict:
        """The ranking score's weights, chosen by recall@10 on the validation slice; then each user's history grows
        to their whole train part (the validation slice's items too), which serving and the eval figures read."""
        chosen = {}
        if self._held_out is not None:
            items = self.catalogue_vectors()
            n = len(items)
            parts = ItemScores(items, float(self.retrieval.scale.numpy()), self.retrieval.pick_bias.embeddings.numpy()[:n, 0],
                               batched(self.rating_item_vectors, self._catalogue),
                               self.item_bias.embeddings.numpy()[:n, 0], self._fit_counts[:n])
            chosen = choose_weights(parts, self.known_user_vectors(self._held_out.users), self._held_out)
        if self.user_history is not None and data.has("validation"):
            train = data.columns("train", self.id_features)
            self.user_history.remember_pairs(train[self.user_id], train[self.item_id])
        return chosen

    def callbacks(self) -> list[keras.callbacks.Callback]:
        """With a retrieval objective: recall@10 on the validation slice after each epoch (trainer/ranking_monitor.py)."""
        return [RankingMonitor(self._held_out, self._ranking_vectors)] if self._held_out is not None else []

    @property
    def early_stopping(self) -> tuple[str, str]:
        """A model that learns what users pick stops on its lists' recall@10, not on its eval loss."""
        return (RANKING_METRIC, "max") if self._held_out is not None else ("val_loss", "min")

    def _ranking_vectors(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ranking score's parts for these user indices: their vectors, scaled item vectors, pick bias."""
        items = self.catalogue_vectors()
        scale = float(self.retrieval.scale.numpy())
        return (self.known_user_vectors(users), (items * scale).astype(np.float32),
                self.retrieval.pick_bias.embeddings.numpy()[:len(items), 0])

    def catalogue_vectors(self) -> np.ndarray:
        """Item vectors of every known item (the catalogue prepared with a retrieval objective)."""
        return batched(self.item_vectors, self._catalogue)

    def known_user_vectors(self, users: np.ndarray) -> np.ndarray:
        """User vectors of these user indices, the user tower's other features at their defaults (zero)."""
        ids = tf.constant(users, tf.int64)
        features = {name: tf.zeros([len(users)], tf.int64) for name in self.user_features}
        features[self.user_id] = ids
        return batched(self.user_vectors, features)

    def user_vectors(self, features: dict, training: bool = False) -> tf.Tensor:
        """The user tower's output.  While fitting, the users of UNKNOWN_USER_SHARE of each batch's distinct users
        are played as new ones: their id reads the out-of-vocabulary row instead of their own, and their history
        keeps only its most rated items, a random share of them (trainer/history.py), so the row every user unknown
        at training gets (with `recommend --history`, or `predict`) is trained, and the tower learns to work from
        the short history a new user brings."""
        ids = features[self.user_id]
        fitting = self._in_fit and training
        new_users = None
        if fitting:
            distinct, position = tf.unique(tf.reshape(ids, [-1]))
            new_users = tf.reshape(tf.gather(tf.random.uniform(tf.shape(distinct)) < UNKNOWN_USER_SHARE, position),
                                   tf.shape(ids))
            features = {**features, self.user_id: tf.where(new_users, tf.cast(self.unknown_user_index, ids.dtype), ids)}
        inputs = self.user_encoder(features)
        if self.user_history is None:
            return self.user_tower(inputs, training=training)
        leave_out = features[self.item_id] if fitting else None  # the example's own item is not in its history
        history = self.user_history(ids, leave_out, training, tf.reshape(new_users, [-1]) if fitting else None)
        return self.user_tower(tf.concat([inputs, history], axis=1), training=training)

    def new_user_vector(self, items: tf.Tensor) -> tf.Tensor:
        """(1, dim): the vector of a user unknown at training who rated `items` (item indices).

        The user's own features take the values an unseen user gets from the
        transform: the id's out-of-vocabulary row, zero for other features.
        """
        features = {name: tf.zeros([1], tf.int64) for name in self.user_features}
        features[self.user_id] = tf.constant([self.unknown_user_index], tf.int64)
        history = self.user_history.vector_of(tf.RaggedTensor.from_tensor(tf.reshape(tf.cast(items, tf.int64), [1, -1])))
        return self.user_tower(tf.concat([self.user_encoder(features), history], axis=1), training=False)

    def vocabulary_tables(self) -> list[tuple[tf.Variable, str]]:
        """The feature tables, the id biases, the pick bias and the history's item rows."""
        tables = super().vocabulary_tables() + [(self.user_bias.embeddings, self.user_id),
                                                (self.item_bias.embeddings, self.item_id)]
        if self.retrieval is not None:
            tables.append((self.retrieval.pick_bias.embeddings, self.item_id))
        if self.user_history is not None:
            tables.append((self.user_history.item_embeddings.embeddings, self.item_id))
        return tables

    def build_every_layer(self, features: dict) -> None:
        """The rating path, and the retrieval head's item tower and pick bias, which only training and ranking use."""
        if self.user_history is not None and self.user_history.rows is None:  # a model restored, not prepared
            self.user_history.remember(np.zeros(2, np.int64), np.zeros(0, np.int64))
        self(features)
        if self.retrieval is not None:
            self.retrieval.logits(self.user_vectors(features), self.item_vectors(features),
                                  tf.reshape(features[self.item_id], [-1]))

    def item_vectors(self, features: dict, training: bool = False) -> tf.Tensor:
        """The retrieval head's item vectors (ranking, neighbours, projector, map)."""
        return self.item_tower(self.item_encoder(features), training=training)

    def rating_item_vectors(self, features: dict, training: bool = False) -> tf.Tensor:
        """The rating head's item vectors: the predicted rating is <user vector, this> + both biases + global mean."""
        encoded = self.item_encoder(features)
        if self.rating_item_tower is None:
            return self.rating_scale * self.item_tower(encoded, training=training)
        return self.rating_item_tower(encoded, training=training)

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        u = self.user_vectors(features, training)
        user_ids, item_ids = tf.reshape(features[self.user_id], [-1]), tf.reshape(features[self.item_id], [-1])
        ub, ib = tf.reshape(self.user_bias(user_ids), [-1]), tf.reshape(self.item_bias(item_ids), [-1])
        if self._in_fit and self._bias_shrinkage is not None:
            user_shrinkage, item_shrinkage = self._bias_shrinkage
            self.add_loss(self._rating_weight * tf.reduce_mean(tf.square(ub) * tf.gather(user_shrinkage, user_ids)
                                                               + tf.square(ib) * tf.gather(item_shrinkage, item_ids)))
        if self._in_fit and self.retrieval is not None:
            self.add_loss(self.retrieval_weight * self.retrieval.loss(
                u, features[self.item_id], self.item_vectors(features, training),
                lambda items: self.item_vectors(items, training)))
        rating = tf.reduce_sum(u * self.rating_item_vectors(features, training), axis=1) + ub + ib + self.global_mean
        return rating if self._in_fit else tf.clip_by_value(rating, self.label_range[0], self.label_range[1])

    @contextlib.contextmanager
    def _fitting(self):
        """Mark the steps `fit` traces, whose loss includes the retrieval objective."""
        self._in_fit = True
        try:
            yield
        finally:
            self._in_fit = False

    def train_step(self, data):
        with self._fitting():
            return super().train_step(data)

    def test_step(self, data):
        with self._fitting():
            return super().test_step(data)


def _set_table(layer: keras.layers.Embedding, values: np.ndarray) -> None:
    if not layer.built:
        layer.build((None,))
    layer.embeddings.assign(values.astype(np.float32))


def _per_example_shrinkage(ids: np.ndarray, rows: int) -> tf.Tensor:
    """BIAS_PSEUDO_RATINGS / (train ratings of each row), the weight of a bias's square in each example's loss.

    Summed over an epoch each bias row is then penalised BIAS_PSEUDO_RATINGS * b^2
    whatever its count, so a bias learned from few ratings is shrunk as a
    damped mean is (the bias-only baseline's), while gradients stay sparse.
    """
    counts = np.bincount(ids[ids < rows], minlength=rows)
    return tf.constant(BIAS_PSEUDO_RATINGS / np.maximum(counts, 1), tf.float32)


@builds(DNN)
class DNNModel(SpecModel):
    """All features -> DNN -> one value (a probability for binary classification); with `ensemble: K`, K such
    networks from different initial weights, each trained on its own loss, their outputs averaged.  With `wide`,
    each categorical id also adds a learned value of its own straight to the output, and each number column (its
    z-score and piecewise-linear columns) a learned multiple of itself (wide & deep, Cheng et al. 2016: the wide
    part is a linear model of every input): a table whose label is nearly a lookup of one column (an interest
    rate by loan grade) or nearly linear in its inputs (on three tables of the panel a one-hot linear model is
    level with gradient boosting or ahead) is learned as a linear model learns it, which the network alone does
    only roughly.

    The members are trained side by side on the same batches (one `fit`, early stopping on the averaged
    prediction's eval loss), and the average is the model's output, so the exported SavedModel serves the
    ensemble as one model.
    """

    def __init__(self, spec: FeatureSpec, manifest: dict, **kwargs):
        super().__init__(**kwargs)
        cfg = spec.model
        chosen = [spec.feature(n) for n in cfg.features] if cfg.features else list(spec.features)
        outputs, activation, bias = output_head(spec, manifest["label"])
        self._activation = keras.activations.get(activation)
        wide_features = [f for f in chosen if f.is_categorical and not f.is_multivalent] if cfg.wide else []
        self._wide_numbers = {f.name: f.width for f in chosen if not f.is_categorical} if cfg.wide else {}
        self.members = []
        self.wide = []  # per member: feature name -> its ids' direct contribution to the output (wide & deep)
        self.wide_numbers = []  # per member: one weight per number column, straight to the output (wide & deep)
        for k in range(cfg.ensemble):
            suffix = f"_{k}" if k else ""  # the first member keeps a single model's layer names (warm starts)
            encoder = FeatureEncoder(chosen, manifest["features"], cfg.l2, name=f"features{suffix}")
            body = _tower(cfg.hidden_units, None, cfg.dropout, f"dnn{suffix}")
            # With the wide part the network starts as that linear model (its deep output at zero) and the deep part
            # grows from there into what the linear model misses, instead of first unlearning a random output.
            head = keras.layers.Dense(outputs, name=f"output{suffix}", bias_initializer=keras.initializers.Constant(bias),
                                      kernel_initializer="zeros" if cfg.wide else "glorot_uniform")
            self.members.append((encoder, body, head))
            self.wide.append({f.name: keras.layers.Embedding(manifest["features"][f.name]["cardinality"], outputs,
                                                             embeddings_initializer="zeros", name=f"wide_{f.name}{suffix}")
                              for f in wide_features})
            self.wide_numbers.append(keras.layers.Dense(outputs, use_bias=False, kernel_initializer="zeros",
                                                        name=f"wide_numbers{suffix}") if self._wide_numbers else None)
        self._plateau_patience = max(2, cfg.early_stopping_patience // 4)

    def encoders(self) -> list[FeatureEncoder]:
        return [self.members[0][0]]  # one member's tables stand for the model's (embeddings/, pictures)

    def _all_encoders(self) -> list[FeatureEncoder]:
        return [encoder for encoder, _, _ in self.members]

    def callbacks(self) -> list[keras.callbacks.Callback]:
        """The learning rate halves when the eval loss stalls, well before early stopping gives up."""
        return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=self._plateau_patience,
                                                  min_delta=1e-4, verbose=0)]

    def member_outputs(self, features: dict, training: bool = False) -> tf.Tensor:
        """Each member's prediction, [batch, members] (one value per row) or [batch, members, classes]."""
        each = []
        for (encoder, body, head), wide, numbers in zip(self.members, self.wide, self.wide_numbers):
            logits = head(body(encoder(features), training=training))
            for name, layer in wide.items():
                logits += layer(tf.reshape(features[name], [-1]))
            if numbers is not None:
                logits += numbers(tf.concat([tf.reshape(tf.cast(features[name], tf.float32), [-1, width])
                                             for name, width in self._wide_numbers.items()], axis=1))
            each.append(self._activation(logits))
        each = tf.stack(each, axis=1)
        return each[:, :, 0] if each.shape[-1] == 1 else each

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        return tf.reduce_mean(self.member_outputs(features, training), axis=1)

    def train_step(self, data):
        """Each member learns from its own loss (an ensemble, not one wide network); metrics are the average's."""
        features, label = data
        with tf.GradientTape() as tape:
            each = self.member_outputs(features, training=True)
            label_each = tf.repeat(tf.reshape(tf.cast(label, each.dtype), [-1, 1]), len(self.members), axis=1)
            loss = self.compute_loss(features, label_each, each)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self.compute_metrics(features, label, tf.reduce_mean(each, axis=1), None)


def output_head(spec: FeatureSpec, label: dict) -> tuple[int, str | None, float | list[float]]:
    """(outputs, activation, initial bias) of a network's last layer: a value starting at the train mean, a
    probability (sigmoid) or one probability per class (softmax) starting at the classes' train shares."""
    if spec.label.is_multiclass:
        return len(label["classes"]), "softmax", list(np.log(np.maximum(label["class_priors"], 1e-6)))
    if spec.label.is_binary:
        return 1, "sigmoid", 0.0
    return 1, None, label["train_mean"]


def build_model(spec: FeatureSpec, manifest: dict, evaluation_shards: int = 0) -> SpecModel:
    """The Keras model the spec's model type builds, compiled with its loss and metric (`evaluation_shards`: see
    `compile_model`)."""
    model = _KERAS_MODELS[type(spec.model)](spec, manifest, name=spec.model.type)
    compile_model(model, spec, evaluation_shards)
    return model


def compile_model(model: keras.Model, spec: FeatureSpec, evaluation_shards: int = 0) -> None:
    """Compile with the label's loss and metric and the spec's optimizer settings.

    `evaluation_shards`: under a parameter server, the shards Keras' exact
    evaluation deals the validation data out to the workers in, so each
    example is evaluated once (0: each worker would run its own copy to its
    end, and the first to finish ends the evaluation with an error).
    """
    label = spec.label
    if label.is_multiclass:
        loss, metrics = keras.losses.SparseCategoricalCrossentropy(), [keras.metrics.SparseCategoricalAccuracy(
            name="accuracy")]
    elif label.is_binary:
        loss, metrics = keras.losses.BinaryCrossentropy(), [keras.metrics.AUC(name="auc")]
    else:
        loss, metrics = keras.losses.MeanSquaredError(), [keras.metrics.RootMeanSquaredError(name="rmse")]
    model.compile(optimizer=LazyAdam(spec.model.learning_rate, weight_decay=spec.model.weight_decay or None),
                  loss=loss, loss_weights=[spec.model.label_weight], metrics=metrics,
                  pss_evaluation_shards=evaluation_shards)


from trainer import tree_models  # noqa: E402,F401 - registers the models with trees (they build on the DNN above)
