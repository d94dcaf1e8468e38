"""Model types: the `model:` section of a spec, one class per type.

A type owns its YAML options and their validation, the features it reads,
its `describe` line and what it tells other stages about itself (which raw
columns identify users and items, which feature a tuning trial is labelled
by).  The Keras model that a type builds lives in trainer/model.py,
registered against this class; the spec never imports the trainer.
Adding a type is one class here (with `@model_type("name")`) and its Keras
model there.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from stage_contracts.errors import UserError
from features.registry import Registry
from features.spec_reader import SpecReader
from features.transforms import Feature

if TYPE_CHECKING:
    from features.spec import FeatureSpec

_TRAINING_KEYS = ("type", "hidden_units", "dropout", "l2", "weight_decay", "learning_rate", "batch_size", "epochs",
                  "early_stopping_patience")


@dataclasses.dataclass(frozen=True)
class ModelType:
    """Settings every model type has: the hidden layers, regularisation and the training loop."""

    type: ClassVar[str] = ""
    option_keys: ClassVar[tuple[str, ...]] = ()
    ranks_items: ClassVar[bool] = False  # users see its top-K lists: retraining's gate judges them

    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.0
    l2: float = 0.0
    weight_decay: float = 0.0  # decoupled weight decay (AdamW) on every weight
    learning_rate: float = 0.005
    batch_size: int = 1024
    epochs: int = 10
    early_stopping_patience: int = 2

    @classmethod
    def read(cls, r: SpecReader, features: tuple[Feature, ...]) -> "ModelType":
        kwargs: dict[str, Any] = cls.read_options(r, features)
        if r.has("hidden_units"):
            units = r.raw["hidden_units"]
            if not isinstance(units, list) or not all(isinstance(u, int) and u > 0 for u in units):
                r.fail(f"'hidden_units' must be a list of positive integers, got {units!r}")
            kwargs["hidden_units"] = tuple(units)
        for key in ("batch_size", "epochs", "early_stopping_patience"):
            if r.has(key):
                kwargs[key] = r.positive_int(key)
        for key in ("dropout", "l2", "weight_decay", "learning_rate"):
            if r.has(key):
                kwargs[key] = r.non_negative(key)
        return cls(**kwargs)

    @classmethod
    def read_options(cls, r: SpecReader, features: tuple[Feature, ...]) -> dict:
        return {}

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Every key this type's `model:` section may hold."""
        return _TRAINING_KEYS + cls.option_keys

    def to_dict(self) -> dict:
        return {"type": self.type, **dataclasses.asdict(self)}

    def with_training(self, **changes: Any) -> "ModelType":
        """These settings with some replaced (command-line overrides, tuned params)."""
        return dataclasses.replace(self, **changes)

    def without_features(self, excluded: list[str], spec: "FeatureSpec") -> "ModelType":
        """The model leaving some features out (ablations); only types with a flat feature list allow it."""
        raise UserError(f"--exclude-features applies to dnn models; a {self.type} model's inputs are in its spec")

    def describe(self) -> str:
        raise NotImplementedError

    def describe_training(self) -> str:
        return (f"Training: learning rate {self.learning_rate}, batch {self.batch_size}, up to {self.epochs} epochs, "
                f"early stopping after {self.early_stopping_patience}"
                + (f", weight decay {self.weight_decay:g}" if self.weight_decay else ""))

    def id_columns(self, spec: "FeatureSpec") -> dict[str, str]:
        """Role ("user", "item") -> raw column of the ids the model learns a vector for; data checks watch them."""
        return {}

    @property
    def id_features(self) -> tuple[str, str] | None:
        """(user id, item id) transformed features whose pairs the model's preparation reads (user histories,
        per-id counts), or None: preprocess writes them into a compact id table (beam_jobs/id_table.py)."""
        return None

    @property
    def primary_feature(self) -> str | None:
        """The feature a tuning trial is labelled by, if the type has one (else the largest table)."""
        return None

    @property
    def label_weight(self) -> float:
        """Weight of the label's loss (the rating, the price, ...) among the model's objectives."""
        return 1.0


TYPES: Registry[ModelType] = Registry("type")
model_type = TYPES.register  # @model_type("name") on a ModelType subclass


def read_model(raw: Any, path: str, features: tuple[Feature, ...]) -> ModelType:
    """The `model:` section; `type` (default dnn) picks the class, which reads the rest."""
    first = SpecReader(path, "model", raw, tuple(raw) if isinstance(raw, Mapping) else ())
    cls = TYPES.get(first.choice("type", TYPES.names(), "dnn"))
    return cls.read(SpecReader(path, "model", raw, cls.keys()), features)


def model_from_dict(data: Mapping[str, Any]) -> ModelType:
    """Rebuild model settings saved in a manifest."""
    model = TYPES.from_dict(data, default="dnn")
    trees = getattr(model, "trees", None)
    if not isinstance(trees, Mapping):
        return model
    return dataclasses.replace(model, trees=Trees(**{k: tuple(v) if isinstance(v, list) else v
                                                     for k, v in trees.items()}))


def _feature_names(r: SpecReader, key: str, features: tuple[Feature, ...]) -> tuple[str, ...]:
    names = r.names(key)
    known = {f.name for f in features}
    for name in names:
        if name not in known:
            r.fail(f"'{key}' names unknown feature '{name}'")
    return names


@model_type("two_tower")
@dataclasses.dataclass(frozen=True)
class TwoTower(ModelType):
    """A user tower and an item tower; their dot product plus biases predicts the rating."""

    option_keys: ClassVar[tuple[str, ...]] = ("user_features", "item_features", "user_id", "item_id", "output_dim",
                                              "rating_weight", "retrieval_weight", "retrieval_negatives",
                                              "user_history", "history_dropout")
    NEGATIVES: ClassVar[tuple[str, ...]] = ("auto", "full", "in_batch")
    ranks_items: ClassVar[bool] = True

    user_features: tuple[str, ...] = ()
    item_features: tuple[str, ...] = ()
    user_id: str = ""
    item_id: str = ""
    output_dim: int = 32
    rating_weight: float = 1.0  # the rating objective: squared error of the predicted rating
    retrieval_weight: float = 1.0  # the retrieval objective: softmax over items of what the user picked
    retrieval_negatives: str = "auto"  # full softmax over the catalogue, in-batch (log-Q corrected), or by size
    user_history: bool = False  # the user tower also reads the items the user rated (embeddings summed / sqrt(count))
    history_dropout: float = 0.0  # share of a user's history items hidden from each training batch (denoising)

    @classmethod
    def read_options(cls, r: SpecReader, features: tuple[Feature, ...]) -> dict:
        kwargs: dict[str, Any] = {}
        for key in ("user_features", "item_features"):
            if r.has(key):
                kwargs[key] = _feature_names(r, key, features)
        by_name = {f.name: f for f in features}
        for key in ("user_id", "item_id"):
            if r.has(key):
                value = r.get(key, None, str)
                if value not in by_name or not by_name[value].is_lookup:
                    r.fail(f"'{key}' must name a vocabulary feature, got '{value}'")
                kwargs[key] = value
        for key in ("user_features", "item_features", "user_id", "item_id"):
            if key not in kwargs:
                r.fail(f"a two_tower model needs '{key}'")
        if r.has("output_dim"):
            kwargs["output_dim"] = r.positive_int("output_dim")
        for key in ("rating_weight", "retrieval_weight"):
            if r.has(key):
                kwargs[key] = r.non_negative(key)
        if kwargs.get("rating_weight", 1.0) == 0 and kwargs.get("retrieval_weight", 1.0) == 0:
            r.fail("'rating_weight' and 'retrieval_weight' are both 0: the model would learn nothing")
        if r.has("user_history"):
            kwargs["user_history"] = bool(r.get("user_history", False, bool))
        if r.has("history_dropout"):
            kwargs["history_dropout"] = r.non_negative("history_dropout")
            if kwargs["history_dropout"] >= 1:
                r.fail(f"'history_dropout' must be below 1, got {kwargs['history_dropout']:g}")
        if r.has("retrieval_negatives"):
            kwargs["retrieval_negatives"] = r.choice("retrieval_negatives", cls.NEGATIVES)
        return kwargs

    def describe(self) -> str:
        return (f"Model: two_tower; user tower {list(self.user_features)}, item tower {list(self.item_features)}, "
                f"hidden {list(self.hidden_units)}, output {self.output_dim}; objectives: rating x{self.rating_weight:g}, "
                f"retrieval x{self.retrieval_weight:g} ({self.retrieval_negatives} negatives)"
                + ("; user tower reads the user's history" if self.user_history else "")
                + (f" ({self.history_dropout:g} of it dropped per batch)" if self.user_history and self.history_dropout
                   else ""))

    def id_columns(self, spec: "FeatureSpec") -> dict[str, str]:
        return {"user": spec.feature(self.user_id).source, "item": spec.feature(self.item_id).source}

    @property
    def id_features(self) -> tuple[str, str] | None:
        return self.user_id, self.item_id

    @property
    def primary_feature(self) -> str | None:
        return self.item_id

    @property
    def label_weight(self) -> float:
        return self.rating_weight


@model_type("dnn")
@dataclasses.dataclass(frozen=True)
class DNN(ModelType):
    """All (or the listed) features into a DNN with one output: a value, or a probability."""

    option_keys: ClassVar[tuple[str, ...]] = ("features", "ensemble", "wide")

    features: tuple[str, ...] = ()  # default: every feature of the spec
    ensemble: int = 1  # networks from different initial weights, trained side by side; the model averages them
    wide: bool = False  # each categorical id and each number also reach the output linearly (wide & deep)

    @classmethod
    def read_options(cls, r: SpecReader, features: tuple[Feature, ...]) -> dict:
        kwargs: dict[str, Any] = {"features": _feature_names(r, "features", features)} if r.has("features") else {}
        if r.has("ensemble"):
            kwargs["ensemble"] = r.positive_int("ensemble")
        if r.has("wide"):
            kwargs["wide"] = bool(r.get("wide", False, bool))
        return kwargs

    def without_features(self, excluded: list[str], spec: "FeatureSpec") -> "DNN":
        unknown = sorted(set(excluded) - {f.name for f in spec.features})
        if unknown:
            raise UserError(f"--exclude-features names unknown feature(s) {', '.join(unknown)}")
        return dataclasses.replace(self, features=tuple(f.name for f in spec.features if f.name not in excluded))

    def describe(self) -> str:
        return (f"Model: dnn on {list(self.features) or 'all features'}, hidden {list(self.hidden_units)}"
                + (f", dropout {self.dropout:g}" if self.dropout else "")
                + (f", an ensemble of {self.ensemble} averaged" if self.ensemble > 1 else "")
                + (", each id and number also straight to the output (wide)" if self.wide else ""))


@dataclasses.dataclass(frozen=True)
class Trees:
    """Gradient-boosted trees' settings (YDF), shared by the trees model and the DNN + trees blend."""

    # An upper bound: trees stop being added when the validation slice's loss stops improving.  At 500, searched fits
    # ended at the bound, still improving (SaratogaHouses: 497 trees at rate 0.05, 498 at depth 2), so the bound and
    # not the slice decided; HistGradientBoosting's reference allows 2,000.
    num_trees: int = 2000
    max_depth: tuple[int, ...] = (6,)  # several: each is tried at the largest learning rate, the validation slice picks
    # Shrinkage, each tree's step; several: the depths are searched at the largest, the kept depth is trained at the
    # others too, and its trees at the smallest are kept (trainer/trees.py, train_trees: why not the lowest loss).
    learning_rate: tuple[float, ...] = (0.1,)
    min_examples: int = 5  # rows a leaf needs
    # How a split divides a categorical feature's values: YDF's RANDOM (random subsets of the values, the
    # categorical algorithm of YDF's own best hyper-parameter template) or CART (values sorted by their mean
    # label, YDF's default).  On hotel_rates (country, agent, company, arrival date: 98 to 426 values) RANDOM
    # took the trees' eval RMSE of log(price) from 0.148 to 0.136 at depth 6, on loans_full_schema 0.0277 to
    # 0.0276 at depth 4; it costs more time with many values (53 s against 14 s on hotel_rates, loaded machine).
    categorical_algorithm: str = "RANDOM"
    # After the search on the fit part, the kept setting is trained again on every train row (the validation slice
    # too) with the number of trees early stopping kept, as a tuned model is refitted on all its data before use:
    # the slice chose the setting, and its rows then teach the trees as well.
    refit: bool = True

    KEYS: ClassVar[tuple[str, ...]] = ("num_trees", "max_depth", "trees_learning_rate", "min_examples",
                                       "categorical_algorithm", "refit_trees")
    CATEGORICAL_ALGORITHMS: ClassVar[tuple[str, ...]] = ("RANDOM", "CART", "ONE_HOT")

    @classmethod
    def read(cls, r: SpecReader) -> "Trees":
        kwargs: dict[str, Any] = {}
        for key in ("num_trees", "min_examples"):
            if r.has(key):
                kwargs[key] = r.positive_int(key)
        if r.has("max_depth"):
            kwargs["max_depth"] = _candidates(r, "max_depth", lambda v: isinstance(v, int) and v > 0,
                                              "a positive integer")
        if r.has("categorical_algorithm"):
            kwargs["categorical_algorithm"] = r.choice("categorical_algorithm", cls.CATEGORICAL_ALGORITHMS)
        if r.has("refit_trees"):
            kwargs["refit"] = bool(r.get("refit_trees", True, bool))
        if r.has("trees_learning_rate"):
            kwargs["learning_rate"] = _candidates(r, "trees_learning_rate",
                                                  lambda v: isinstance(v, (int, float)) and 0 < v <= 1,
                                                  "a number in (0, 1]")
        return cls(**kwargs)

    @property
    def searched(self) -> bool:
        """Whether `train` chooses among several depths or learning rates (trainer/trees.py's search)."""
        return len(self.max_depth) > 1 or len(self.learning_rate) > 1

    def only(self, max_depth: int, learning_rate: float) -> "Trees":
        """These settings with one depth and one learning rate (a setting a search kept)."""
        return dataclasses.replace(self, max_depth=(max_depth,), learning_rate=(learning_rate,))

    def describe(self) -> str:
        def one_or_choice(values: tuple) -> str:
            return f"{values[0]:g}" if len(values) == 1 else "one of " + "/".join(f"{v:g}" for v in values)

        return (f"gradient-boosted trees (YDF): up to {self.num_trees} trees of depth {one_or_choice(self.max_depth)}, "
                f"learning rate {one_or_choice(self.learning_rate)}"
                + (" (chosen on the validation slice)" if self.searched else "")
                + (", then refitted on every train row" if self.refit else ""))


def _candidates(r: SpecReader, key: str, valid, what: str) -> tuple:
    """One value, or a list of values that `train` tries, keeping the best on the validation slice."""
    raw = r.raw[key]
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(valid(v) and not isinstance(v, bool) for v in values):
        r.fail(f"'{key}' must be {what} or a list of them, got {raw!r}")
    return tuple(values)


@model_type("gradient_boosted_trees")
@dataclasses.dataclass(frozen=True)
class GradientBoostedTrees(ModelType):
    """Gradient-boosted trees (YDF) on the transformed features: ids as categories, z-scores as numbers.

    Trained by YDF, not Keras (the training-loop settings other types have do
    not apply); exported inside the same SavedModel as the transform graph.
    """

    option_keys: ClassVar[tuple[str, ...]] = ("features",) + Trees.KEYS

    features: tuple[str, ...] = ()  # default: every feature of the spec
    trees: Trees = Trees()

    @classmethod
    def read_options(cls, r: SpecReader, features: tuple[Feature, ...]) -> dict:
        kwargs: dict[str, Any] = {"features": _feature_names(r, "features", features)} if r.has("features") else {}
        return {**kwargs, "trees": Trees.read(r)}

    def describe(self) -> str:
        return f"Model: {self.trees.describe()} on {list(self.features) or 'all features'}"

    def describe_training(self) -> str:
        return "Training: YDF, trees added until the validation slice's loss stops improving"


@model_type("dnn_and_trees")
@dataclasses.dataclass(frozen=True)
class DNNAndTrees(DNN):
    """The DNN and gradient-boosted trees on the same features, their predictions averaged with a weight chosen
    on the validation slice.  With `trees_read_embeddings`, trees are also trained with the DNN's learned
    embedding of each categorical feature (ids, the location cross) among their inputs, the embeddings as input
    to another model, and the validation slice keeps the better of the two."""

    option_keys: ClassVar[tuple[str, ...]] = DNN.option_keys + Trees.KEYS + ("trees_read_embeddings",)

    trees: Trees = Trees()
    trees_read_embeddings: bool = True

    @classmethod
    def read_options(cls, r: SpecReader, features: tuple[Feature, ...]) -> dict:
        return {**super().read_options(r, features), "trees": Trees.read(r),
                "trees_read_embeddings": bool(r.get("trees_read_embeddings", True, bool))}

    @property
    def dnn(self) -> DNN:
        """The DNN part's settings."""
        fields = {f.name for f in dataclasses.fields(DNN)}
        return DNN(**{k: v for k, v in dataclasses.asdict(self).items() if k in fields})

    def describe(self) -> str:
        return (super().describe() + f"; blended with {self.trees.describe()}"
                + (", with or without the DNN's embeddings among their inputs" if self.trees_read_embeddings else ""))
