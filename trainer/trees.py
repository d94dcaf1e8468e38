"""Gradient-boosted trees (YDF) on the transformed features, as a TensorFlow module the SavedModel carries.

The trees read what the transform graph writes: single-valued ids
(vocabularies, buckets, hashed crosses) as categories, numbers as their
z-score (unknown values as missing), and, when a DNN is given, each
categorical feature's learned embedding as numbers (the embeddings as input
to another model).  Multivalent features (lists) are left to the DNN.
YDF trains in C++ on numpy columns; `ydf-tf`'s inference ops run the
result inside TensorFlow, so the exported model still takes raw rows and
needs TensorFlow plus those ops to load (docs/serving.md, "TF Serving").
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import weakref

import numpy as np
import tensorflow as tf

from stage_contracts.errors import UserError
from features.model_types import Trees
from features.transforms import Feature
from trainer.metrics import scorer_for

log = logging.getLogger(__name__)
LOSS_METRIC = {"regression": "rmse", "binary_classification": "log_loss", "multiclass_classification": "log_loss"}


def _ydf():
    try:
        import ydf
        import ydf_tf  # noqa: F401 - the inference ops the exported model needs
    except ImportError:
        raise UserError("gradient_boosted_trees and dnn_and_trees models need YDF: pip install ydf 'ydf-tf==2.21.*' "
                        "(dependencies of embedflow; reinstall it)") from None
    return ydf


def load_saved_model(path: str):
    """`tf.saved_model.load`, with YDF's inference ops registered first so a model with trees loads too."""
    _ydf()
    return tf.saved_model.load(path)


class TreeInputs:
    """The trees' input columns from a batch of transformed features (and, optionally, a DNN's embeddings)."""

    def __init__(self, features: list[Feature], embeddings: dict | None = None):
        self.categorical = [f.name for f in features if f.is_categorical and not f.is_multivalent]
        self.numeric = {f.name: f.width for f in features if not f.is_categorical}
        self.embeddings = embeddings or {}  # feature name -> keras Embedding layer (a DNN's)

    def __call__(self, features: dict) -> dict[str, tf.Tensor]:
        out = {name: tf.reshape(tf.cast(features[name], tf.int64), [-1]) for name in self.categorical}
        for name, width in self.numeric.items():
            columns = tf.reshape(tf.cast(features[name], tf.float32), [-1, width])
            # A piecewise-linear encoding's last column flags an unknown number, which the trees see as missing.
            out[name] = columns[:, 0] if width == 1 else tf.where(columns[:, -1] > 0.5, np.nan, columns[:, 0])
        for name, layer in self.embeddings.items():
            out[f"{name}_embedding"] = layer(tf.reshape(features[name], [-1]))
        return out

    def semantics(self) -> list:
        ydf = _ydf()
        return ([ydf.Feature(n, ydf.Semantic.CATEGORICAL) for n in self.categorical]
                + [ydf.Feature(n, ydf.Semantic.NUMERICAL) for n in self.numeric]
                + [ydf.Feature(f"{n}_embedding", ydf.Semantic.NUMERICAL) for n in self.embeddings])

    def columns(self, dataset: tf.data.Dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Every batch's tree inputs and labels as numpy columns."""
        parts, labels = [], []
        for features, label in dataset:
            parts.append({k: v.numpy() for k, v in self(features).items()})
            labels.append(tf.reshape(label, [-1]).numpy())
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, np.concatenate(labels)


class TrainedTrees(tf.Module):
    """A trained YDF model inside TensorFlow: tree inputs -> a value, a probability, or [rows, classes]."""

    def __init__(self, model, task: str, num_classes: int):
        super().__init__()
        self.ydf_model = model
        # The function reads the model's files from this folder until the SavedModel has copied them as assets; it
        # goes when this object does (or when the process ends), so runs leave nothing in /tmp.
        folder = tempfile.mkdtemp(prefix="embedflow-trees-")
        weakref.finalize(self, shutil.rmtree, folder, True)
        self.function = model.to_tensorflow_function(temp_dir=folder)
        self._task = task
        if task == "binary_classification":
            self._flip = [int(float(c)) for c in model.label_classes()] == [1, 0]
        elif task == "multiclass_classification":
            seen = [int(float(c)) for c in model.label_classes()]
            # Column k of the answer is class k; a class the fit part lacks reads a zero column.
            self._columns = tf.constant([seen.index(k) if k in seen else len(seen) for k in range(num_classes)])

    def __call__(self, inputs: dict) -> tf.Tensor:
        out = self.function(inputs)
        if self._task == "binary_classification":
            return 1.0 - out if self._flip else out
        if self._task == "multiclass_classification":
            padded = tf.concat([out, tf.zeros_like(out[:, :1])], axis=1)
            return tf.gather(padded, self._columns, axis=1)
        return tf.reshape(out, [-1])


@dataclasses.dataclass(frozen=True)
class TreeTry:
    """One setting of the trees tried, and its loss on the validation slice."""

    max_depth: int
    learning_rate: float
    trees: int  # boosting iterations kept by early stopping (YDF's num_trees; with several classes, a tree each)
    validation_loss: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _learner(inputs: TreeInputs, task: str, trees: Trees, depth: int, learning_rate: float, seed: int, **more):
    ydf = _ydf()
    return ydf.GradientBoostedTreesLearner(
        label="label", task=ydf.Task.REGRESSION if task == "regression" else ydf.Task.CLASSIFICATION,
        features=inputs.semantics(), include_all_columns=False, num_trees=trees.num_trees, max_depth=depth,
        shrinkage=learning_rate, min_examples=trees.min_examples, categorical_algorithm=trees.categorical_algorithm,
        random_seed=seed, **more)


def _table(task: str, part: tuple[dict, np.ndarray]) -> dict:
    columns, label = part
    return {**columns, "label": label.astype(np.float32) if task == "regression" else label.astype(np.int64)}


def train_trees(inputs: TreeInputs, fit: tuple[dict, np.ndarray], validation: tuple[dict, np.ndarray] | None,
                task: str, trees: Trees, num_classes: int, seed: int) -> tuple[TrainedTrees, list[TreeTry]]:
    """YDF's gradient-boosted trees on the fit part; trees are added while the validation slice's loss improves.

    The settings of `trees` are searched in two steps, the way a depth and a
    learning rate are usually tuned: each depth at the largest learning rate
    (the cheapest fits), the lowest validation loss keeping one, then the
    smaller learning rates at that depth.  When the first step keeps the
    smallest or the largest of several depths, the depth one step of the list
    beyond it is tried too (`depth_beyond`): the best may lie outside the
    list, and a table's best depth is not known in advance (SaratogaHouses
    kept 4 of 4/6/8, its smallest).  The kept depth's trees at the smallest
    rate are kept, not the rate with the lowest validation loss: early
    stopping counts the trees on the same slice, and the larger rate's
    jumpier loss curve gives it the lower, more optimistic, minimum there
    (the slice kept 0.1 over 0.05 on SaratogaHouses, CPS1988, credit_data
    and wa_churn), while on the eval split the smaller rate's trees did
    better, or 0.001 worse: SaratogaHouses 0.946x to 0.926x HistGradientBoosting's
    error, credit_data 1.013x to 1.006x, CPS1988 1.001x to 1.000x, wa_churn
    0.985x to 0.986x (docs/tables.md, "Trees and the blend").  Returns the kept trees
    and every try, the kept one first.
    """
    fit_table, valid_table = _table(task, fit), _table(task, validation) if validation else None
    check = validation or fit

    def one(depth: int, learning_rate: float) -> tuple[TreeTry, object]:
        model = _learner(inputs, task, trees, depth, learning_rate, seed).train(fit_table, valid=valid_table,
                                                                                verbose=0)
        prediction = _probabilities(task, model, model.predict(check[0]), num_classes)
        iterations = model.num_trees() // model.num_trees_per_iteration()
        return TreeTry(depth, learning_rate, int(iterations), validation_loss(task, check[1], prediction)), model

    fastest = max(trees.learning_rate)
    tries = [one(depth, fastest) for depth in trees.max_depth]
    depth = min(tries, key=lambda t: t[0].validation_loss)[0].max_depth
    beyond = depth_beyond(trees.max_depth, depth)
    if beyond is not None:
        tries.append(one(beyond, fastest))
        depth = min(tries, key=lambda t: t[0].validation_loss)[0].max_depth
    tries += [one(depth, rate) for rate in trees.learning_rate if rate != fastest]
    kept = next(t for t in tries if (t[0].max_depth, t[0].learning_rate) == (depth, min(trees.learning_rate)))
    tries = [kept] + sorted((t for t in tries if t is not kept), key=lambda t: t[0].validation_loss)
    return TrainedTrees(kept[1], task, num_classes), [t for t, _ in tries]


def depth_beyond(depths: tuple[int, ...], kept: int) -> int | None:
    """The depth one step past the end of `depths` that `kept` sits at (the step to its neighbour; at least 1),
    or None: `kept` is inside the list, the list has one depth, or the step would leave no new depth."""
    ordered = sorted(set(depths))
    if len(ordered) < 2 or kept not in (ordered[0], ordered[-1]):
        return None
    beyond = 2 * ordered[0] - ordered[1] if kept == ordered[0] else 2 * ordered[-1] - ordered[-2]
    return max(beyond, 1) if max(beyond, 1) not in ordered else None


def refit_trees(inputs: TreeInputs, rows: tuple[dict, np.ndarray], task: str, trees: Trees, kept: TreeTry,
                num_classes: int, seed: int) -> TrainedTrees:
    """The kept setting trained again on `rows` (every train row: the fit part and the validation slice), with as
    many trees as early stopping kept on the slice; nothing is held out and nothing is chosen here."""
    learner = _learner(inputs, task, dataclasses.replace(trees, num_trees=kept.trees), kept.max_depth,
                       kept.learning_rate, seed, validation_ratio=0.0, early_stopping="NONE")
    return TrainedTrees(learner.train(_table(task, rows), verbose=0), task, num_classes)


def _probabilities(task: str, model, prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """YDF's prediction as the model's output: a value, P(class 1), or column k for class k."""
    if task == "multiclass_classification":
        return _class_columns(prediction, model, num_classes)
    if task == "binary_classification" and [int(float(c)) for c in model.label_classes()] == [1, 0]:
        return 1.0 - prediction
    return prediction


def _class_columns(probabilities: np.ndarray, model, num_classes: int) -> np.ndarray:
    """YDF's class probabilities with column k for class k (YDF orders classes by their names)."""
    out = np.zeros((len(probabilities), num_classes))
    for column, name in enumerate(model.label_classes()):
        out[:, int(float(name))] = probabilities[:, column]
    return out


def validation_loss(task: str, label: np.ndarray, prediction: np.ndarray) -> float:
    """The loss selection compares (RMSE of a value, log-loss of probabilities), by the evaluation's own code."""
    return float(scorer_for(task)(label, prediction)[LOSS_METRIC[task]])
