"""Transform kinds: what a feature does with its source, one class per kind.

A spec's `features:` list holds instances of these classes, each made by
the name in its `transform:` key (as Keras' FeatureSpace makes features by
named factories).  A kind owns everything about itself:

- its YAML options and their validation (`read_options`),
- how many ids it can take and its embedding size (`cardinality`, `embedding_size`),
- its `describe` text and its manifest entry,
- the statistic it needs from the train split (`statistic`: a vocabulary,
  moments, quantiles; features/analyzers.py) and the TensorFlow Transform
  code it compiles to once that is known (`apply`).

Adding a kind is one class here, registered with `@transform_kind("name")`;
nothing else in the project compares kind names.

TensorFlow is imported inside `apply` only, so reading and describing a spec
stays instant and needs no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Mapping

from features.registry import Registry
from features.spec_reader import SpecReader, suggest
from features.analyzers import Moments, QuantileBoundaries, Statistic, TokenCounts

CROSS_SEPARATOR = "_x_"
_COMMON_KEYS = ("name", "source", "transform", "embedding_dim")


@dataclasses.dataclass(frozen=True)
class ParseContext:
    """What a feature's validation may look at: the spec file, the values it can read, the features above it."""

    path: str
    value_names: tuple[str, ...]
    numeric_values: frozenset[str]
    earlier: tuple["Feature", ...]


@dataclasses.dataclass
class GraphContext:
    """What a feature's TFT code reads: raw and derived values, features built above it, computed statistics.

    `statistics` maps a feature's name to the `Statistic` it asked for, its
    `result` filled in (by the preprocess job's packed analyzers, or one TFT
    analyzer each in the reference pipeline).
    """

    values: dict
    outputs: dict
    statistics: dict[str, Statistic] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Feature:
    """One model input: its name, where it comes from, and its embedding size rule."""

    kind: ClassVar[str] = ""
    option_keys: ClassVar[tuple[str, ...]] = ()
    is_categorical: ClassVar[bool] = True  # ids with an embedding table; else a number fed as is
    is_lookup: ClassVar[bool] = False  # each id stands for one value seen in training (can key a per-id bias)
    needs_numeric_source: ClassVar[bool] = False
    reads_source: ClassVar[bool] = True

    name: str = ""
    source: str | None = None
    embedding_dim: int | str = "auto"

    @property
    def is_multivalent(self) -> bool:
        return False

    @property
    def width(self) -> int:
        """Numbers per row this feature gives a numeric (non-categorical) model input."""
        return 1

    # ------------------------------------------------------------------ spec
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Every key this kind's feature record may hold."""
        return _COMMON_KEYS + cls.option_keys

    @classmethod
    def read(cls, r: SpecReader, ctx: ParseContext) -> "Feature":
        """Validate one YAML record of this kind (unknown keys were rejected by the reader)."""
        name = r.require("name", str)
        if any(f.name == name for f in ctx.earlier):
            r.fail("duplicate feature name")
        source = r.get("source", None, str)
        if cls.reads_source:
            if source is None:
                r.fail("missing required key 'source'")
            if source not in ctx.value_names:
                r.fail(f"unknown column '{source}'{suggest(source, list(ctx.value_names))}")
            if cls.needs_numeric_source and source not in ctx.numeric_values:
                r.fail(f"{cls.kind} needs a numeric column, '{source}' is a string")
        elif source is not None:
            r.fail(f"a {cls.kind} takes {', '.join(repr(k) for k in cls.option_keys)}, not 'source'")
        dim = r.get("embedding_dim", "auto", (int, str))
        if dim != "auto" and (isinstance(dim, str) or dim < 1):
            r.fail(f"'embedding_dim' must be 'auto' or a positive integer, got {dim!r}")
        return cls(name=name, source=source, embedding_dim=dim, **cls.read_options(r, ctx))

    @classmethod
    def read_options(cls, r: SpecReader, ctx: ParseContext) -> dict:
        """The kind's own options, validated."""
        return {}

    def to_dict(self) -> dict:
        return {"transform": self.kind, **dataclasses.asdict(self)}

    # ------------------------------------------------------------------ sizes
    def cardinality(self, vocabulary_size: int | None = None) -> int | None:
        """Rows of the embedding table (None for numbers, or a vocabulary not yet counted)."""
        return None

    def embedding_size(self, cardinality: int) -> int:
        """`auto` is the fourth-root rule of thumb: round(cardinality ** 0.25), at least 1."""
        if self.embedding_dim == "auto":
            return max(1, round(cardinality**0.25))
        return int(self.embedding_dim)

    def manifest_entry(self, vocabulary_size: Callable[[str], int]) -> dict:
        """What the manifest records for this feature once preprocessing has run."""
        entry: dict = {"transform": self.kind}
        if self.is_categorical:
            entry["cardinality"] = self.cardinality()
            entry["embedding_dim"] = self.embedding_size(entry["cardinality"])
        return entry

    # ------------------------------------------------------------------ describe
    def origin(self) -> str:
        return self.source or ""

    def describe_options(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ TFT
    def statistic(self, ctx: GraphContext) -> Statistic | None:
        """What this feature needs computed over the train split before `apply` (None: nothing)."""
        return None

    def apply(self, ctx: GraphContext):
        """This feature's output tensor inside TFT's preprocessing_fn (its statistic is in `ctx.statistics`)."""
        raise NotImplementedError


KINDS: Registry[Feature] = Registry("kind")
transform_kind = KINDS.register  # @transform_kind("name") on a Feature subclass


def read_feature(raw: Any, path: str, where: str, ctx: ParseContext) -> Feature:
    """A feature from its YAML record: the `transform:` key picks the kind, which reads the rest."""
    first = SpecReader(path, where, raw, tuple(raw) if isinstance(raw, Mapping) else ())
    cls = KINDS.get(first.choice("transform", KINDS.names()))
    return cls.read(SpecReader(path, where, raw, cls.keys()), ctx)


def feature_from_dict(data: Mapping[str, Any]) -> Feature:
    """Rebuild a feature saved in a manifest (its `transform` key names the kind)."""
    return KINDS.from_dict({**data, "kind": data["transform"]})


# ---------------------------------------------------------------------------- kinds


@transform_kind("vocabulary")
@dataclasses.dataclass(frozen=True)
class Vocabulary(Feature):
    """Values -> ids by a vocabulary counted on the train split; unseen values share OOV buckets."""

    option_keys: ClassVar[tuple[str, ...]] = ("top_k", "frequency_threshold", "num_oov_buckets", "separator")
    is_lookup: ClassVar[bool] = True

    top_k: int | None = None
    frequency_threshold: int = 1
    num_oov_buckets: int = 1
    separator: str | None = None

    @property
    def is_multivalent(self) -> bool:
        return self.separator is not None

    @classmethod
    def read_options(cls, r: SpecReader, ctx: ParseContext) -> dict:
        return {"top_k": r.positive_int("top_k"), "frequency_threshold": r.positive_int("frequency_threshold", 1),
                "num_oov_buckets": r.positive_int("num_oov_buckets", 1), "separator": r.get("separator", None, str)}

    def cardinality(self, vocabulary_size: int | None = None) -> int | None:
        return None if vocabulary_size is None else int(vocabulary_size) + self.num_oov_buckets

    def manifest_entry(self, vocabulary_size: Callable[[str], int]) -> dict:
        size = vocabulary_size(self.name)
        cardinality = self.cardinality(size)
        return {"transform": self.kind, "vocabulary_size": size, "cardinality": cardinality,
                "embedding_dim": self.embedding_size(cardinality)}

    def describe_options(self) -> str:
        parts = [f"{self.num_oov_buckets} OOV bucket(s)"]
        if self.top_k:
            parts.append(f"top {self.top_k}")
        if self.frequency_threshold > 1:
            parts.append(f"min count {self.frequency_threshold}")
        if self.separator:
            parts.append(f"multivalent, split on {self.separator!r}")
        return ", ".join(parts)

    def statistic(self, ctx: GraphContext) -> TokenCounts:
        import tensorflow as tf

        x = ctx.values[self.source]
        text = x if x.dtype == tf.string else tf.strings.as_string(x)
        if self.is_multivalent:
            text = tf.strings.split(text, self.separator).to_sparse()
        return TokenCounts(self.name, text=text, top_k=self.top_k, frequency_threshold=self.frequency_threshold)

    def apply(self, ctx: GraphContext):
        return ctx.statistics[self.name].ids(self.num_oov_buckets)


class _Numeric(Feature):
    """A numeric source, optionally log1p-scaled; NaN (unknown) is handled by each kind."""

    needs_numeric_source: ClassVar[bool] = True

    def numbers(self, ctx: GraphContext):
        """The source as float32, log1p-scaled if asked; NaN (or any non-finite value) is unknown."""
        import tensorflow as tf

        x = tf.cast(ctx.values[self.source], tf.float32)
        return tf.math.log1p(tf.maximum(x, 0.0)) if self.log else x

    @staticmethod
    def known_values(numbers):
        """(numbers with unknowns as 0, mask of known numbers)."""
        import tensorflow as tf

        known = tf.math.is_finite(numbers)
        return tf.where(known, numbers, 0.0), known


@transform_kind("quantile_bucketize")
@dataclasses.dataclass(frozen=True)
class QuantileBuckets(_Numeric):
    """A number -> its quantile bucket on the train split; unknown values get a bucket of their own."""

    option_keys: ClassVar[tuple[str, ...]] = ("num_buckets", "log")

    num_buckets: int = 2
    log: bool = False

    @classmethod
    def read_options(cls, r: SpecReader, ctx: ParseContext) -> dict:
        num_buckets = r.positive_int("num_buckets", None, minimum=2)
        if num_buckets is None:
            r.fail("quantile_bucketize needs 'num_buckets' (an integer >= 2)")
        return {"num_buckets": num_buckets, "log": bool(r.get("log", False, bool))}

    def cardinality(self, vocabulary_size: int | None = None) -> int:
        return self.num_buckets + 1  # the last bucket holds unknown values

    def describe_options(self) -> str:
        return f"{self.num_buckets} quantile buckets"

    def statistic(self, ctx: GraphContext) -> QuantileBoundaries:
        return QuantileBoundaries(self.name, values=self.numbers(ctx), num_buckets=self.num_buckets,
                                  epsilon=1.0 / (100 * self.num_buckets))

    def apply(self, ctx: GraphContext):
        import tensorflow as tf
        import tensorflow_transform as tft

        quantiles = ctx.statistics[self.name]
        safe, known = self.known_values(quantiles.values)
        return tf.where(known, tft.apply_buckets(safe, quantiles.result), tf.constant(self.num_buckets, tf.int64))


@transform_kind("z_score")
@dataclasses.dataclass(frozen=True)
class ZScore(_Numeric):
    """A number -> (x - mean) / std on the train split; unknown values get 0, the mean.

    With `piecewise_linear: N` the model also sees the number's piecewise-linear
    encoding over N quantile bins of the train split (Gorishniy et al. 2022, "On
    embeddings for numerical features in tabular deep learning"): bin i reads 0
    below it, 1 above it and the position inside it, so a network bends the
    number's effect where the data is, as trees do; a last input flags an
    unknown value.
    """

    option_keys: ClassVar[tuple[str, ...]] = ("log", "piecewise_linear")
    is_categorical: ClassVar[bool] = False

    log: bool = False
    piecewise_linear: int = 0  # bins of the piecewise-linear encoding (0: the z-score alone)

    @classmethod
    def read_options(cls, r: SpecReader, ctx: ParseContext) -> dict:
        bins = r.positive_int("piecewise_linear", None, minimum=2)
        return {"log": bool(r.get("log", False, bool)), "piecewise_linear": bins or 0}

    @property
    def width(self) -> int:
        return 1 + (self.piecewise_linear + 1 if self.piecewise_linear else 0)

    def describe_options(self) -> str:
        text = "log1p, then z-score" if self.log else "z-score"
        return text + (f" + piecewise-linear, {self.piecewise_linear} bins" if self.piecewise_linear else "")

    def statistic(self, ctx: GraphContext) -> Moments:
        return Moments(self.name, values=self.numbers(ctx))

    def apply(self, ctx: GraphContext):
        import tensorflow as tf

        moments = ctx.statistics[self.name]
        safe, known = self.known_values(moments.values)
        mean, variance = moments.result
        z = tf.where(known, tf.math.divide_no_nan(safe - mean, tf.sqrt(variance)), 0.0)
        if not self.piecewise_linear:
            return z
        import tensorflow_transform as tft

        with tf.name_scope(self.name):  # the bins' own analyzers, one set per feature that asks for them
            observed = tf.boolean_mask(moments.values, known)
            inner = tft.quantiles(observed, self.piecewise_linear, epsilon=1.0 / (100 * self.piecewise_linear),
                                  name="bins")
            low, high = tft.min(observed, name="low"), tft.max(observed, name="high")
            edges = tf.concat([tf.reshape(low, [1]), tf.reshape(inner, [-1]), tf.reshape(high, [1])], axis=0)
            start, width = edges[:-1], edges[1:] - edges[:-1]
            x = safe[:, None]
            inside = tf.clip_by_value(tf.math.divide_no_nan(x - start, width), 0.0, 1.0)
            bins = tf.where(width > 0, inside, tf.cast(x >= edges[1:], tf.float32))  # an empty bin is a step
            bins = tf.where(known[:, None], bins, 0.0)
            encoded = tf.concat([z[:, None], bins, tf.cast(~known, tf.float32)[:, None]], axis=1)
            return tf.ensure_shape(encoded, [None, self.width])


@transform_kind("hashed_cross")
@dataclasses.dataclass(frozen=True)
class HashedCross(Feature):
    """Single-valued categorical features declared above, crossed and hashed into a fixed number of buckets.

    Never a full Cartesian product: the table has `hash_buckets` rows whatever
    the crossed features' sizes.
    """

    option_keys: ClassVar[tuple[str, ...]] = ("cross", "hash_buckets")
    reads_source: ClassVar[bool] = False

    cross: tuple[str, ...] = ()
    hash_buckets: int = 2

    @classmethod
    def read_options(cls, r: SpecReader, ctx: ParseContext) -> dict:
        cross = r.names("cross")
        if len(cross) < 2:
            r.fail("'cross' needs at least two feature names")
        for other in cross:
            match = next((f for f in ctx.earlier if f.name == other), None)
            if match is None:
                r.fail(f"cross of unknown feature '{other}' (cross features declared above this one)")
            if not match.is_categorical or match.is_multivalent:
                r.fail(f"cross of '{other}', which is not a single-valued categorical feature")
        hash_buckets = r.positive_int("hash_buckets", None, minimum=2)
        if hash_buckets is None:
            r.fail("hashed_cross needs 'hash_buckets' (an integer >= 2)")
        return {"cross": cross, "hash_buckets": hash_buckets}

    def cardinality(self, vocabulary_size: int | None = None) -> int:
        return self.hash_buckets

    def origin(self) -> str:
        return " x ".join(self.cross)

    def describe_options(self) -> str:
        return f"hashed into {self.hash_buckets} buckets"

    def apply(self, ctx: GraphContext):
        import tensorflow as tf

        parts = [tf.strings.as_string(ctx.outputs[name]) for name in self.cross]
        return tf.strings.to_hash_bucket_fast(tf.strings.join(parts, CROSS_SEPARATOR), self.hash_buckets)
