"""The declarative feature spec: one YAML file drives preprocessing, model and serving.

A spec names the raw input columns and their types, derived values, one
record per model feature (its source and its treatment), the label, the
train/eval split and the model.  It is validated completely on load, before
any pipeline starts, and every error names the spec file and the record at
fault.  This module imports neither Beam nor TensorFlow, so the trainer can
read specs without pulling in Beam.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Any, Mapping

import yaml

from beam_jobs.errors import SpecError

BUILTIN_SPECS_DIR = os.path.join(os.path.dirname(__file__), "specs")

COLUMN_TYPES = ("int", "float", "string")
TRANSFORMS = ("vocabulary", "quantile_bucketize", "z_score", "hashed_cross")
CATEGORICAL_TRANSFORMS = ("vocabulary", "quantile_bucketize", "hashed_cross")
DERIVATIONS = ("regex_extract", "ratio")
TASKS = ("regression", "binary_classification")
LABEL_TRANSFORMS = ("none", "log")
MODEL_TYPES = ("two_tower", "dnn")
SOURCE_FORMATS = ("movielens", "csv", "parquet", "bigquery")
MISSING_POLICIES = ("mean",)


@dataclasses.dataclass(frozen=True)
class Column:
    """A raw input column: its type, whether it may be empty, and its valid range."""

    name: str
    type: str
    required: bool = True
    min: float | None = None
    max: float | None = None
    missing: str | float | None = None  # fill for an empty optional numeric column

    @property
    def is_numeric(self) -> bool:
        return self.type in ("int", "float")


@dataclasses.dataclass(frozen=True)
class Derived:
    """A value computed from raw columns inside the transform graph (so serving computes it too)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    pattern: str | None = None


@dataclasses.dataclass(frozen=True)
class Feature:
    """One model input: where it comes from and how it is transformed."""

    name: str
    transform: str
    source: str | None = None
    top_k: int | None = None
    frequency_threshold: int = 1
    num_oov_buckets: int = 1
    separator: str | None = None
    num_buckets: int | None = None
    log: bool = False
    cross: tuple[str, ...] = ()
    hash_buckets: int | None = None
    embedding_dim: int | str = "auto"

    @property
    def is_categorical(self) -> bool:
        return self.transform in CATEGORICAL_TRANSFORMS

    @property
    def is_multivalent(self) -> bool:
        return self.separator is not None


@dataclasses.dataclass(frozen=True)
class Label:
    column: str
    task: str = "regression"
    transform: str = "none"


@dataclasses.dataclass(frozen=True)
class Split:
    """A stable hash of `key` decides each row's split, so reruns and new data agree."""

    eval_fraction: float = 0.1
    key: tuple[str, ...] = ()
    seed: int = 42


@dataclasses.dataclass(frozen=True)
class Source:
    """Where rows come from: a MovieLens folder, a CSV / Parquet table, or a BigQuery table (`project:dataset.table`)."""

    format: str
    path: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True


@dataclasses.dataclass(frozen=True)
class Join:
    """A side table joined to every row on the column `key`, contributing `columns`.

    (The YAML key is `key`, not `on`: YAML 1.1 reads a bare `on` as true.)
    """

    key: str
    columns: tuple[str, ...]
    table: str | None = None  # a side table of the source layout (MovieLens "movies")
    path: str | None = None  # or a file of the user's own


@dataclasses.dataclass(frozen=True)
class Deduplicate:
    """Rows sharing `key` are duplicates: the one with the largest `latest_by` is kept."""

    key: tuple[str, ...]
    latest_by: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    type: str = "dnn"
    features: tuple[str, ...] = ()  # dnn: the features it reads (default: all)
    user_features: tuple[str, ...] = ()
    item_features: tuple[str, ...] = ()
    user_id: str | None = None
    item_id: str | None = None
    hidden_units: tuple[int, ...] = (64, 32)
    output_dim: int = 32
    dropout: float = 0.0
    l2: float = 0.0
    learning_rate: float = 0.005
    batch_size: int = 1024
    epochs: int = 10
    early_stopping_patience: int = 2


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """A whole validated spec.  `path` is where it was read from, for messages."""

    name: str
    path: str
    source: Source
    columns: tuple[Column, ...]
    features: tuple[Feature, ...]
    label: Label
    split: Split
    model: ModelConfig
    derived: tuple[Derived, ...] = ()
    join: Join | None = None
    deduplicate: Deduplicate | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def feature(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)

    @property
    def main_columns(self) -> tuple[Column, ...]:
        """Columns read from the main table (the join supplies the others)."""
        joined = set(self.join.columns) if self.join else set()
        return tuple(c for c in self.columns if c.name not in joined)

    @property
    def joined_columns(self) -> tuple[Column, ...]:
        joined = self.join.columns if self.join else ()
        return tuple(self.column(name) for name in joined)

    def needed_values(self) -> set[str]:
        """Columns and derived values the features read, directly or through derivations."""
        derived = {d.name: d for d in self.derived}
        needed: set[str] = set()

        def visit(name: str) -> None:
            needed.add(name)
            for inp in derived[name].inputs if name in derived else ():
                visit(inp)

        for feature in self.features:
            if feature.source:
                visit(feature.source)
        return needed

    def serving_columns(self) -> tuple[Column, ...]:
        """Raw columns a prediction request must carry: what features need, less the label and joined columns."""
        needed = self.needed_values()
        if self.join:
            needed.add(self.join.key)
            needed -= set(self.join.columns)
        needed.discard(self.label.column)
        return tuple(c for c in self.columns if c.name in needed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def embedding_dim_for(feature: Feature, cardinality: int) -> int:
    """`auto` is the fourth-root rule of thumb: round(cardinality ** 0.25), at least 1."""
    if feature.embedding_dim == "auto":
        return max(1, round(cardinality**0.25))
    return int(feature.embedding_dim)


def categorical_cardinality(feature: Feature, vocabulary_size: int | None = None) -> int:
    """How many ids a categorical feature can take: the rows of its embedding table."""
    if feature.transform == "vocabulary":
        return int(vocabulary_size) + feature.num_oov_buckets
    if feature.transform == "quantile_bucketize":
        return feature.num_buckets + 1  # the last bucket holds unknown values
    return feature.hash_buckets


# --------------------------------------------------------------------------- loading


def builtin_spec_path(name: str) -> str:
    return os.path.join(BUILTIN_SPECS_DIR, f"{name}.yaml")


def builtin_spec_names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(BUILTIN_SPECS_DIR) if f.endswith(".yaml"))


def load_spec(name_or_path: str) -> FeatureSpec:
    """Load a built-in spec by name (`movielens`, `housing`) or a spec file by path."""
    path = name_or_path
    if not os.path.exists(path) and name_or_path in builtin_spec_names():
        path = builtin_spec_path(name_or_path)
    if not os.path.exists(path):
        raise SpecError(
            name_or_path,
            "file",
            f"no such spec file, and not a built-in spec (built-in: {', '.join(builtin_spec_names())})",
        )
    with open(path, "rb") as f:
        data = f.read()
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SpecError(path, "file", f"not UTF-8 text: byte {data[e.start]:#04x} at offset {e.start}") from None
    except yaml.YAMLError as e:
        raise SpecError(path, "YAML", str(e)) from None
    return parse_spec(raw, path)


class _Reader:
    """Reads one mapping of the YAML, rejecting unknown keys with a suggestion."""

    def __init__(self, path: str, where: str, raw: Any, allowed: tuple[str, ...]):
        self.path, self.where = path, where
        if not isinstance(raw, Mapping):
            self.fail(f"expected a mapping, got {type(raw).__name__}")
        self.raw = raw
        for key in raw:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(allowed)})"
                self.fail(f"unknown key '{key}'{hint}")

    def fail(self, problem: str) -> None:
        raise SpecError(self.path, self.where, problem)

    def get(self, key: str, default: Any = None, kind: type | tuple[type, ...] | None = None) -> Any:
        value = self.raw.get(key)
        value = default if value is None else value  # an explicit null means "not given"
        if kind is not None and value is not None and not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(f"'{key}' must be {names}, got {value!r}")
        return value

    def require(self, key: str, kind: type | tuple[type, ...] | None = None) -> Any:
        if key not in self.raw or self.raw[key] is None:
            self.fail(f"missing required key '{key}'")
        return self.get(key, kind=kind)

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.get(key, default) if default is not None else self.require(key)
        if value not in choices:
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.fail(f"unknown {key} '{value}'{hint}; choose one of {', '.join(choices)}")
        return value

    def positive_int(self, key: str, default: int | None = None, minimum: int = 1) -> int | None:
        value = self.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(f"'{key}' must be an integer >= {minimum}, got {value!r}")
        return value


def _names(value: Any, reader: _Reader, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        reader.fail(f"'{key}' must be a name or a list of names, got {value!r}")
    return tuple(value)


def parse_spec(raw: Any, path: str) -> FeatureSpec:
    """Build and validate a FeatureSpec from parsed YAML."""
    top = _Reader(
        path, "top level", raw,
        ("name", "source", "columns", "derived", "join", "deduplicate", "features", "label", "split", "model"),
    )
    source = _parse_source(top.require("source"), path)
    columns = _parse_columns(top.require("columns"), path)
    column_names = [c.name for c in columns]
    derived = _parse_derived(top.get("derived") or {}, path, column_names)
    join = _parse_join(top.get("join"), path, column_names, source)
    deduplicate = _parse_deduplicate(top.get("deduplicate"), path, columns, join)
    value_names = column_names + [d.name for d in derived]
    features = _parse_features(top.require("features", list), path, value_names, columns, derived)
    label = _parse_label(top.get("label"), path, columns)
    split = _parse_split(top.get("split") or {}, path, column_names)
    model = _parse_model(top.get("model") or {}, path, features)
    return FeatureSpec(
        name=str(top.get("name") or os.path.splitext(os.path.basename(path))[0]),
        path=path, source=source, columns=columns, derived=derived, join=join,
        features=features, label=label, split=split, model=model, deduplicate=deduplicate,
    )


def _parse_source(raw: Any, path: str) -> Source:
    r = _Reader(path, "source", raw, ("format", "path", "delimiter", "encoding", "header"))
    fmt = r.choice("format", SOURCE_FORMATS)
    delimiter = r.get("delimiter", ",", str)
    if len(delimiter) != 1:
        r.fail(f"'delimiter' must be one character, got {delimiter!r}")
    encoding = r.get("encoding", "utf-8", str)
    try:
        "".encode(encoding)
    except LookupError:
        r.fail(f"unknown encoding '{encoding}'")
    return Source(format=fmt, path=r.get("path", None, str), delimiter=delimiter,
                  encoding=encoding, header=bool(r.get("header", True, bool)))


def _parse_columns(raw: Any, path: str) -> tuple[Column, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError(path, "columns", "must be a non-empty mapping of column name to {type: ...}")
    columns = []
    for name, body in raw.items():
        r = _Reader(path, f"column '{name}'", body, ("type", "required", "min", "max", "missing"))
        ctype = r.choice("type", COLUMN_TYPES)
        lo, hi = r.get("min", None, (int, float)), r.get("max", None, (int, float))
        if lo is not None and hi is not None and lo > hi:
            r.fail(f"min {lo} is greater than max {hi}")
        missing = r.get("missing", None, (str, int, float))
        required = bool(r.get("required", missing is None, bool))
        if missing is not None:
            if ctype == "string":
                r.fail("'missing' fills empty numeric columns; string columns use the out-of-vocabulary bucket")
            if isinstance(missing, str) and missing not in MISSING_POLICIES:
                r.fail(f"'missing' must be a number or one of {', '.join(MISSING_POLICIES)}, got '{missing}'")
            if required:
                r.fail("a column with 'missing' cannot also be required")
        elif not required and ctype != "string":
            r.fail("an optional numeric column needs 'missing' (a number or 'mean') to fill empty values")
        columns.append(Column(name=str(name), type=ctype, required=required, min=lo, max=hi, missing=missing))
    return tuple(columns)


def _parse_derived(raw: Any, path: str, column_names: list[str]) -> tuple[Derived, ...]:
    if not isinstance(raw, Mapping):
        raise SpecError(path, "derived", "must be a mapping of name to derivation")
    derived: list[Derived] = []
    for name, body in raw.items():
        r = _Reader(path, f"derived '{name}'", body, DERIVATIONS)
        if len(body) != 1:
            r.fail(f"give exactly one derivation, one of {', '.join(DERIVATIONS)}")
        if name in column_names:
            r.fail("a derived value cannot reuse the name of an input column")
        known = column_names + [d.name for d in derived]
        if "regex_extract" in body:
            rr = _Reader(path, f"derived '{name}'.regex_extract", body["regex_extract"], ("column", "pattern"))
            inputs = (rr.require("column", str),)
            pattern = rr.require("pattern", str)
            if "(" not in pattern:
                rr.fail("the pattern needs a capture group: the first group is the value")
        else:
            inputs = _names(body["ratio"], r, "ratio")
            pattern = None
            if len(inputs) != 2:
                r.fail("'ratio' takes two names: [numerator, denominator]")
        for inp in inputs:
            if inp not in known:
                r.fail(f"unknown column '{inp}'")
        derived.append(Derived(name=str(name), kind=next(iter(body)), inputs=inputs, pattern=pattern))
    return tuple(derived)


def _parse_join(raw: Any, path: str, column_names: list[str], source: Source) -> Join | None:
    if raw is None:
        return None
    r = _Reader(path, "join", raw, ("table", "path", "key", "columns"))
    key = r.require("key", str)
    cols = _names(r.require("columns"), r, "columns")
    for name in (key, *cols):
        if name not in column_names:
            r.fail(f"unknown column '{name}' (declare it under columns)")
    table, file_path = r.get("table", None, str), r.get("path", None, str)
    if (table is None) == (file_path is None):
        r.fail("give either 'table' (a side table of the source layout) or 'path' (a file)")
    if table is not None and source.format != "movielens":
        r.fail("'table' names a side table of a MovieLens folder; for other sources give 'path'")
    return Join(key=key, columns=cols, table=table, path=file_path)


def _parse_deduplicate(raw: Any, path: str, columns: tuple[Column, ...], join: Join | None) -> Deduplicate | None:
    if raw is None:
        return None
    r = _Reader(path, "deduplicate", raw, ("key", "latest_by"))
    key = _names(r.require("key"), r, "key")
    latest_by = r.get("latest_by", None, str)
    main = {c.name for c in columns} - set(join.columns if join else ())
    for name in (*key, *([latest_by] if latest_by else [])):
        if name not in main:
            r.fail(f"unknown column '{name}' (deduplication works on the main table's columns)")
    return Deduplicate(key=key, latest_by=latest_by)


_FEATURE_KEYS = (
    "name", "source", "transform", "top_k", "frequency_threshold", "num_oov_buckets",
    "separator", "num_buckets", "log", "cross", "hash_buckets", "embedding_dim",
)


def _parse_features(raw: list, path: str, value_names: list[str], columns: tuple[Column, ...],
                    derived: tuple[Derived, ...]) -> tuple[Feature, ...]:
    if not raw:
        raise SpecError(path, "features", "declare at least one feature")
    numeric = {c.name for c in columns if c.is_numeric} | {d.name for d in derived}
    features: list[Feature] = []
    for i, body in enumerate(raw):
        label = body.get("name") if isinstance(body, Mapping) else None
        where = f"feature '{label}'" if label else f"feature #{i + 1}"
        r = _Reader(path, where, body, _FEATURE_KEYS)
        name = r.require("name", str)
        if any(f.name == name for f in features):
            r.fail("duplicate feature name")
        transform = r.choice("transform", TRANSFORMS)
        source = r.get("source", None, str)
        cross: tuple[str, ...] = ()
        if transform == "hashed_cross":
            cross = _names(r.require("cross"), r, "cross")
            if len(cross) < 2:
                r.fail("'cross' needs at least two feature names")
            for other in cross:
                match = next((f for f in features if f.name == other), None)
                if match is None:
                    r.fail(f"cross of unknown feature '{other}' (cross features declared above this one)")
                if not match.is_categorical or match.is_multivalent:
                    r.fail(f"cross of '{other}', which is not a single-valued categorical feature")
            if source is not None:
                r.fail("a hashed_cross takes 'cross', not 'source'")
        else:
            if source is None:
                r.fail("missing required key 'source'")
            if source not in value_names:
                close = difflib.get_close_matches(source, value_names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                r.fail(f"unknown column '{source}'{hint}")
            if transform in ("quantile_bucketize", "z_score") and source not in numeric:
                r.fail(f"{transform} needs a numeric column, '{source}' is a string")
        num_buckets = r.positive_int("num_buckets", None, minimum=2)
        if transform == "quantile_bucketize" and num_buckets is None:
            r.fail("quantile_bucketize needs 'num_buckets' (an integer >= 2)")
        hash_buckets = r.positive_int("hash_buckets", None, minimum=2)
        if transform == "hashed_cross" and hash_buckets is None:
            r.fail("hashed_cross needs 'hash_buckets' (an integer >= 2)")
        separator = r.get("separator", None, str)
        if separator is not None and transform != "vocabulary":
            r.fail("'separator' (a multivalent list) applies to vocabulary features only")
        dim = r.get("embedding_dim", "auto", (int, str))
        if dim != "auto" and (isinstance(dim, str) or dim < 1):
            r.fail(f"'embedding_dim' must be 'auto' or a positive integer, got {dim!r}")
        features.append(Feature(
            name=name, transform=transform, source=source,
            top_k=r.positive_int("top_k"),
            frequency_threshold=r.positive_int("frequency_threshold", 1),
            num_oov_buckets=r.positive_int("num_oov_buckets", 1),
            separator=separator, num_buckets=num_buckets, log=bool(r.get("log", False, bool)),
            cross=cross, hash_buckets=hash_buckets, embedding_dim=dim,
        ))
    return tuple(features)


def _parse_label(raw: Any, path: str, columns: tuple[Column, ...]) -> Label:
    if raw is None:
        raise SpecError(path, "label", "missing: name the label column (label: {column: ...})")
    r = _Reader(path, "label", raw, ("column", "task", "transform"))
    column = r.require("column", str)
    match = next((c for c in columns if c.name == column), None)
    if match is None:
        r.fail(f"unknown column '{column}'")
    if not match.is_numeric:
        r.fail(f"label column '{column}' must be numeric (int or float)")
    return Label(column=column, task=r.choice("task", TASKS, "regression"),
                 transform=r.choice("transform", LABEL_TRANSFORMS, "none"))


def _parse_split(raw: Any, path: str, column_names: list[str]) -> Split:
    r = _Reader(path, "split", raw, ("eval_fraction", "key", "seed"))
    fraction = r.get("eval_fraction", 0.1, (int, float))
    if not 0 < fraction < 1:
        r.fail(f"'eval_fraction' must be between 0 and 1, got {fraction}")
    key = _names(r.get("key", []), r, "key") if r.get("key") else ()
    for name in key:
        if name not in column_names:
            r.fail(f"unknown column '{name}'")
    return Split(eval_fraction=float(fraction), key=key, seed=int(r.get("seed", 42, int)))


def _parse_model(raw: Any, path: str, features: tuple[Feature, ...]) -> ModelConfig:
    r = _Reader(path, "model", raw, tuple(f.name for f in dataclasses.fields(ModelConfig)))
    names = {f.name for f in features}
    mtype = r.choice("type", MODEL_TYPES, "dnn")
    kwargs: dict[str, Any] = {"type": mtype}
    for key in ("user_features", "item_features", "features"):
        if key in raw:
            kwargs[key] = _names(raw[key], r, key)
            for name in kwargs[key]:
                if name not in names:
                    r.fail(f"'{key}' names unknown feature '{name}'")
    for key in ("user_id", "item_id"):
        if key in raw:
            kwargs[key] = r.get(key, None, str)
            if kwargs[key] not in names or features[[f.name for f in features].index(kwargs[key])].transform != "vocabulary":
                r.fail(f"'{key}' must name a vocabulary feature, got '{kwargs[key]}'")
    if mtype == "two_tower":
        for key in ("user_features", "item_features", "user_id", "item_id"):
            if key not in kwargs:
                r.fail(f"a two_tower model needs '{key}'")
    if "hidden_units" in raw:
        units = raw["hidden_units"]
        if not isinstance(units, list) or not all(isinstance(u, int) and u > 0 for u in units):
            r.fail(f"'hidden_units' must be a list of positive integers, got {units!r}")
        kwargs["hidden_units"] = tuple(units)
    for key in ("output_dim", "batch_size", "epochs", "early_stopping_patience"):
        if key in raw:
            kwargs[key] = r.positive_int(key)
    for key in ("dropout", "l2", "learning_rate"):
        if key in raw:
            value = r.require(key, (int, float))
            if value < 0:
                r.fail(f"'{key}' must be >= 0, got {value}")
            kwargs[key] = float(value)
    return ModelConfig(**kwargs)


def spec_from_dict(data: Mapping[str, Any]) -> FeatureSpec:
    """Rebuild a spec saved in a manifest (already validated when it was written)."""
    def tup(v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    return FeatureSpec(
        name=data["name"], path=data["path"],
        source=Source(**data["source"]),
        columns=tuple(Column(**c) for c in data["columns"]),
        derived=tuple(Derived(**{k: tup(v) for k, v in d.items()}) for d in data["derived"]),
        join=Join(**{k: tup(v) for k, v in data["join"].items()}) if data.get("join") else None,
        features=tuple(Feature(**{k: tup(v) for k, v in f.items()}) for f in data["features"]),
        label=Label(**data["label"]),
        split=Split(**{k: tup(v) for k, v in data["split"].items()}),
        model=ModelConfig(**{k: tup(v) for k, v in data["model"].items()}),
        deduplicate=(Deduplicate(**{k: tup(v) for k, v in data["deduplicate"].items()})
                     if data.get("deduplicate") else None),
    )
