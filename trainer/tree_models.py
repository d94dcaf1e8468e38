"""The table models that contain trees: gradient-boosted trees alone, and the DNN + trees blend.

Both are Keras models only in shape (a `call` on transformed features, so
evaluation, export and serving treat them as any model); their trees are
trained by YDF in `fit_model`.  The blend searches its trees' settings
first, then trains its DNN with the trainer's Keras loop, stopped when the
blend's validation loss stops improving, then the trees that read the DNN's
learned embeddings (if asked), then picks the DNN's weight in the average
(and, for classes, the scale of the average's log-odds) on the validation
slice: the eval split only reports.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from features.model_types import DNNAndTrees, GradientBoostedTrees, Trees
from features.spec import FeatureSpec
from trainer.model import DNNModel, FeatureEncoder, SpecModel, TrainingData, builds, compile_model
from trainer.trees import TrainedTrees, TreeInputs, TreeTry, refit_trees, train_trees, validation_loss

log = logging.getLogger(__name__)
BLEND_STEPS = 20  # the DNN's weight in the blend is tried at 0, 1/20, ..., 1
# The scales of a classification blend's log-odds tried on the validation slice: 1/4 to 4, each ~3.5% from the next.
LOGIT_SCALES = np.exp(np.linspace(np.log(0.25), np.log(4.0), 81))


def _chosen_features(spec: FeatureSpec, names: tuple[str, ...]) -> list:
    return [spec.feature(n) for n in names] if names else list(spec.features)


class _TreesPart:
    """Trees of one model: their inputs, training, and what was tried.

    Given a DNN's embeddings, the trees are trained twice, with them among
    their inputs and without, and the validation slice keeps one; both are
    kept for the eval figures (`variants`), so each table shows what the
    embeddings add.  The settings (depth, learning rate) are searched on the
    inputs without embeddings only; the trees with them are trained at the
    setting that search kept, so the embeddings' variant costs one fit, not
    a second search (on the panel's tables the two variants' losses agreed
    to the third decimal at every setting).
    """

    def __init__(self, spec: FeatureSpec, manifest: dict, features: list, trees: Trees, embeddings: dict | None = None):
        self.spec, self.settings = spec, trees
        self.num_classes = len(manifest["label"].get("classes", ()))
        self.candidates = ({"trees_without_embeddings": TreeInputs(features),
                            "trees_with_embeddings": TreeInputs(features, embeddings)} if embeddings
                           else {"trees": TreeInputs(features)})
        self.inputs: TreeInputs = next(iter(self.candidates.values()))
        self.trained: TrainedTrees | None = None
        self.variants: dict[str, tuple[TreeInputs, TrainedTrees]] = {}
        self.kept: dict[str, TreeTry] = {}  # each candidate's kept try
        self.tries: list[dict] = []  # every try; the first candidate's kept one first
        self.refitted: dict = {}  # what `refit` trained: its rows, and each candidate's kept try
        self.best_loss = np.inf

    def fit(self, data: TrainingData, names: tuple[str, ...] = (), seed: int = 0) -> dict:
        """Train the trees of the named candidates (default all), in order: the first searches the settings, the
        rest use the setting it kept.  Keeps the candidate with the lowest validation loss so far."""
        for name in names or tuple(self.candidates):
            inputs = self.candidates[name]
            settings = self.settings if not self.tries else self.settings.only(self.tries[0]["max_depth"],
                                                                                self.tries[0]["learning_rate"])
            fit = inputs.columns(data.train_one_pass)
            validation = inputs.columns(data.validation_one_pass) if data.has("validation") else None
            trained, tries = train_trees(inputs, fit, validation, self.spec.label.task, settings,
                                         self.num_classes, seed)
            self.variants[name], self.kept[name] = (inputs, trained), tries[0]
            self.tries += [{"inputs": name, **t.to_dict()} for t in tries]
            log.info("Trees (%s): %d trees of depth %d, learning rate %g, validation loss %.4f (kept of %d tried)",
                     name, tries[0].trees, tries[0].max_depth, tries[0].learning_rate, tries[0].validation_loss,
                     len(tries))
            if tries[0].validation_loss < self.best_loss:
                self.best_loss, self.inputs, self.trained = tries[0].validation_loss, inputs, trained
        return {"loss": [self.best_loss], "val_loss": [self.best_loss]}

    def refit(self, data: TrainingData, seed: int = 0) -> None:
        """Every candidate trained again at its kept setting on all train rows (`Trees.refit`), once everything that
        is chosen on the validation slice has been chosen: the slice is then part of the trees' training data, so
        nothing may look at their predictions on it afterwards."""
        if not (self.settings.refit and data.has("validation")):
            return
        for name, (inputs, trained) in self.variants.items():
            fit, validation = inputs.columns(data.train_one_pass), inputs.columns(data.validation_one_pass)
            rows = ({k: np.concatenate([fit[0][k], validation[0][k]]) for k in fit[0]},
                    np.concatenate([fit[1], validation[1]]))
            kept = self.kept[name]
            refitted = refit_trees(inputs, rows, self.spec.label.task, self.settings, kept, self.num_classes, seed)
            self.variants[name] = (inputs, refitted)
            if trained is self.trained:
                self.trained = refitted
            self.refitted = {**self.refitted, "rows": int(len(rows[1])), name: kept.to_dict()}
            log.info("Trees (%s) refitted on all %d train rows: %d trees of depth %d, learning rate %g", name,
                     len(rows[1]), kept.trees, kept.max_depth, kept.learning_rate)

    def refit_choice(self) -> dict:
        """`{"trees_refitted": {...}}` for metrics.json once `refit` ran, else nothing."""
        return {"trees_refitted": dict(self.refitted)} if self.refitted else {}

    def predict(self, features: dict) -> tf.Tensor:
        """The kept trees' prediction from transformed features."""
        return self.trained(self.inputs(features))

    def parts(self) -> dict[str, Callable]:
        """Each variant of the trees, for the eval figures (the model serves the one the validation slice kept)."""
        if len(self.variants) < 2:
            return {}
        return {name: (lambda features, training=False, i=inputs, t=trained: t(i(features)))
                for name, (inputs, trained) in self.variants.items()}


@builds(GradientBoostedTrees)
class TreesModel(SpecModel):
    """Gradient-boosted trees (YDF) on the transformed features."""

    def __init__(self, spec: FeatureSpec, manifest: dict, **kwargs):
        super().__init__(**kwargs)
        self._part = _TreesPart(spec, manifest, _chosen_features(spec, spec.model.features), spec.model.trees)

    def encoders(self) -> list[FeatureEncoder]:
        return []

    def fit_model(self, data: TrainingData, fit_keras: Callable[[keras.Model], dict]) -> dict:
        history = self._part.fit(data)
        self._part.refit(data)
        self.trees = self._part.trained  # tracked by Keras, so the SavedModel carries the trees
        return history

    def build_every_layer(self, features: dict) -> None:
        """Nothing to build before training: trees hold no Keras weights (a warm start leaves them to YDF)."""

    @property
    def choices(self) -> dict:
        return {"trees": self._part.tries, **self._part.refit_choice()}  # plain lists: the part is not a Keras attribute

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        return self.trees(self._part.inputs(features))


@builds(DNNAndTrees)
class DNNAndTreesModel(SpecModel):
    """weight * DNN + (1 - weight) * trees, the weight chosen on the validation slice; for classes, that average's
    log-odds are then scaled by a number chosen there too (`logit_scale`)."""

    def __init__(self, spec: FeatureSpec, manifest: dict, **kwargs):
        super().__init__(**kwargs)
        cfg = spec.model
        dnn_spec = dataclasses.replace(spec, model=cfg.dnn)
        self.dnn = DNNModel(dnn_spec, manifest, name="dnn")
        compile_model(self.dnn, dnn_spec)
        encoder = self.dnn.members[0][0]
        embeddings = {name: layer for name, layer in encoder.embeddings.items()
                      if name not in encoder._multivalent} if cfg.trees_read_embeddings else {}  # noqa: SLF001
        self._part = _TreesPart(spec, manifest, _chosen_features(spec, cfg.features), cfg.trees, embeddings)
        self.dnn_weight = tf.Variable(0.5, trainable=False, name="dnn_weight")
        self.logit_scale = tf.Variable(1.0, trainable=False, name="logit_scale")
        self._blend_tries: list[dict] = []
        self._chosen_weight = 0.5  # without a validation slice the average is plain
        self._calibration: dict = {}

    def encoders(self) -> list[FeatureEncoder]:
        return self.dnn.encoders()

    def _all_encoders(self) -> list[FeatureEncoder]:
        return self.dnn._all_encoders()  # noqa: SLF001

    def build_every_layer(self, features: dict) -> None:
        """The DNN's layers (a warm start seeds them); the trees exist only once trained."""
        self.dnn.build_every_layer(features)

    def fit_model(self, data: TrainingData, fit_keras: Callable[..., dict]) -> dict:
        """The trees' search first, then the DNN by the trainer's loop, also stopped when the blend's validation loss
        stops improving (`BlendMonitor`), then the trees with the DNN's embeddings at the kept setting, then the
        blend's weight."""
        names = tuple(self._part.candidates)
        self._part.fit(data, names[:1])
        if data.has("validation"):
            label, trees = _predictions(data.validation_one_pass, self._part.predict)
            history = fit_keras(self.dnn, BlendMonitor(self._part.spec.label.task, data.validation_one_pass, label,
                                                       trees, self._part.spec.model.early_stopping_patience))
        else:
            history = fit_keras(self.dnn)
        self._part.fit(data, names[1:])
        if data.has("validation"):
            self._choose_weight(data)
        self._part.refit(data)
        self.trees = self._part.trained  # tracked by Keras, so the SavedModel carries the trees
        return history

    def _choose_weight(self, data: TrainingData) -> None:
        label, dnn = _predictions(data.validation_one_pass, lambda f: self.dnn(f, training=False))
        _, trees = _predictions(data.validation_one_pass, self._part.predict)
        self._blend_tries = blend_losses(self._part.spec.label.task, label, dnn, trees)
        best = min(self._blend_tries, key=lambda t: t["validation_loss"])
        self.dnn_weight.assign(best["dnn_weight"])
        self._chosen_weight = best["dnn_weight"]  # as tried (the variable holds it as float32)
        log.info("Blend: DNN weight %.2f (validation loss %.4f; DNN alone %.4f, trees alone %.4f)",
                 best["dnn_weight"], best["validation_loss"], self._blend_tries[-1]["validation_loss"],
                 self._blend_tries[0]["validation_loss"])
        if self._part.spec.label.is_classification:
            blended = best["dnn_weight"] * dnn + (1 - best["dnn_weight"]) * trees
            self._calibration = logit_scale(self._part.spec.label.task, label, blended)
            self.logit_scale.assign(self._calibration["logit_scale"])  # the rest of the record: metrics.json
            log.info("Blend: log-odds scaled by %.3f (validation loss %.4f, unscaled %.4f)",
                     self._calibration["logit_scale"], self._calibration["validation_loss"],
                     self._calibration["unscaled_validation_loss"])

    @property
    def choices(self) -> dict:
        calibration = {"calibration": dict(self._calibration)} if self._calibration else {}  # Keras wraps dicts too
        return {"trees": self._part.tries, "blend": [dict(t) for t in self._blend_tries],  # Keras wraps lists
                "dnn_weight": self._chosen_weight, **calibration, **self._part.refit_choice()}

    def parts(self) -> dict[str, Callable]:
        return {"dnn": lambda features, training=False: self.dnn(features, training=False),
                "trees": lambda features, training=False: self.trees(self._part.inputs(features)),
                **self._part.parts()}

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        blended = (self.dnn_weight * self.dnn(features, training=training)
                   + (1.0 - self.dnn_weight) * self.trees(self._part.inputs(features)))
        label = self._part.spec.label
        return scaled_log_odds(label.task, blended, self.logit_scale) if label.is_classification else blended


def scaled_log_odds(task: str, probabilities, scale) -> tf.Tensor:
    """Class probabilities with their log-odds (binary: P(class 1)) or log-probabilities (several classes, then
    normalised) multiplied by `scale`: below 1 a blend's too confident probabilities move toward the middle, above
    1 too timid ones move apart; 1 leaves them as they are."""
    p = tf.clip_by_value(tf.cast(probabilities, tf.float32), 1e-7, 1 - 1e-7)
    if task == "binary_classification":
        return tf.sigmoid(scale * (tf.math.log(p) - tf.math.log1p(-p)))
    return tf.nn.softmax(scale * tf.math.log(p), axis=-1)


def logit_scale(task: str, label: np.ndarray, probabilities: np.ndarray) -> dict:
    """The scale of LOGIT_SCALES (or 1) whose `scaled_log_odds` has the lowest log-loss on the validation slice
    (temperature scaling: one number, so a few hundred rows fit it), with that loss and the unscaled one.

    Two models' average is not calibrated even where each part is, and the
    weight's choice on a small slice can keep one overconfident part: on
    CreditCard (101 rows in the slice, the DNN's weight 1) the scale 0.93 took
    the eval log-loss from 0.938x to 0.916x HistGradientBoosting's; on
    credit_data and wa_churn (0.93, 1.04) it moved the validation loss by
    under 0.3% (docs/tables.md, "Trees and the blend").
    """
    losses = {float(scale): validation_loss(task, label, scaled_log_odds(task, probabilities, scale).numpy())
              for scale in np.append(LOGIT_SCALES, 1.0)}
    scale = min(losses, key=lambda k: (losses[k], abs(np.log(k))))  # a tie keeps the scale nearer 1
    return {"logit_scale": scale, "validation_loss": losses[scale], "unscaled_validation_loss": losses[1.0]}


def _predictions(dataset: tf.data.Dataset, predict: Callable[[dict], tf.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predictions) of every batch of `dataset`."""
    labels, out = [], []
    for features, label in dataset:
        labels.append(tf.reshape(label, [-1]).numpy())
        out.append(predict(features).numpy())
    return np.concatenate(labels), np.concatenate(out)


def blend_losses(task: str, label: np.ndarray, dnn: np.ndarray, trees: np.ndarray) -> list[dict]:
    """The validation loss of weight * DNN + (1 - weight) * trees at each weight 0, 1/BLEND_STEPS, ..., 1."""
    return [{"dnn_weight": w, "validation_loss": validation_loss(task, label, w * dnn + (1 - w) * trees)}
            for w in np.linspace(0, 1, BLEND_STEPS + 1).round(3).tolist()]


class BlendMonitor(keras.callbacks.Callback):
    """After each DNN epoch: the best blend's validation loss with the trees already trained (`val_blend_loss`,
    in the history); training stops once it has not improved for `patience` epochs.

    The DNN's own early stopping still runs (and its best epoch's weights are
    restored); this stops it sooner where the DNN's late, slow gains no longer
    improve the blend the model serves: on a table the trees already fit (an
    interest rate that is nearly a lookup of the loan grade), the blend's
    weight for the DNN stays at 0 whatever it learns.
    """

    monitor = "val_blend_loss"

    def __init__(self, task: str, validation: tf.data.Dataset, label: np.ndarray, trees: np.ndarray, patience: int):
        super().__init__()
        self._task, self._validation, self._label, self._trees = task, validation, label, trees
        self._patience, self._best, self._waited = patience, np.inf, 0

    def on_epoch_end(self, epoch, logs=None):
        _, dnn = _predictions(self._validation, lambda f: self.model(f, training=False))
        loss = min(t["validation_loss"] for t in blend_losses(self._task, self._label, dnn, self._trees))
        if logs is not None:
            logs[self.monitor] = loss
        self._best, self._waited = (loss, 0) if loss < self._best else (self._best, self._waited + 1)
        if self._waited >= self._patience:
            self.model.stop_training = True
