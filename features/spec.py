"""The declarative feature spec: one YAML file drives preprocessing, model and serving.

A spec names the raw input columns and their types, derived values, one
record per model feature (its source and its treatment: a transform kind,
features/transforms.py), the label, the train/eval split and the model (a
model type, features/model_types.py).  It is validated completely on load,
before any pipeline starts, and every error names the spec file and the
record at fault.  This package imports neither Beam nor TensorFlow at
import time, so both stages (and `embedflow describe`) read specs cheaply.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

import numpy as np
import yaml

from features.derivations import Derived, derived_from_dict, read_derived
from stage_contracts.errors import SpecError
from features.model_types import ModelType, model_from_dict, read_model
from features.spec_reader import SpecReader, load_yaml
from features.transforms import Feature, ParseContext, feature_from_dict, read_feature

BUILTIN_SPECS_DIR = os.path.join(os.path.dirname(__file__), "specs")

COLUMN_TYPES = ("int", "float", "string")
TASKS = ("regression", "binary_classification", "multiclass_classification")
LABEL_TRANSFORMS = ("none", "log")
SOURCE_FORMATS = ("movielens", "csv", "parquet", "bigquery")
MISSING_POLICIES = ("mean",)
# Each section's keys, the only ones SpecReader accepts there (docs/generate.py lists them in the spec reference).
TOP_LEVEL_KEYS = ("name", "source", "columns", "derived", "join", "deduplicate", "features", "label", "split", "model")
SOURCE_KEYS = ("format", "path", "delimiter", "encoding", "header")
COLUMN_KEYS = ("type", "required", "min", "max", "missing")
JOIN_KEYS = ("table", "path", "key", "columns")
DEDUPLICATE_KEYS = ("key", "latest_by")
LABEL_KEYS = ("column", "task", "transform")
SPLIT_KEYS = ("eval_fraction", "key", "seed")
LOG_FLOOR = 1e-6  # a log label of 0 (or less) is taken at this value
MIN_CLASS_ROWS = 5  # a class of the label needs this many rows (in the sample, in the train split) to be learned


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
class Label:
    """The column the model predicts; `transform: log` makes it predict log(label).

    A text label (yes/no, good/bad) and every multiclass label are classes:
    preprocessing counts a vocabulary of them on the train split (as TFX
    does) and the model learns each row's class index; the exported model
    answers with the class names.  A binary text label's positive class is
    the vocabulary's second entry, the rarer of the two.
    """

    column: str
    task: str = "regression"
    transform: str = "none"
    text: bool = False  # the column holds text (only a classification label may)

    @property
    def is_binary(self) -> bool:
        return self.task == "binary_classification"

    @property
    def is_multiclass(self) -> bool:
        return self.task == "multiclass_classification"

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def has_vocabulary(self) -> bool:
        """Whether the label's classes are a vocabulary counted on the train split (else the label is a number)."""
        return self.text or self.is_multiclass

    def class_names(self, values: np.ndarray, column_type: str) -> np.ndarray:
        """Raw values of a classification label as the names of their classes: a 0/1 label's 0 and 1, else as the
        label vocabulary writes them (a float as `tf.strings.as_string` does, text decoded)."""
        if not self.has_vocabulary:
            return np.array([f"{v:g}" for v in np.asarray(values, np.float64)])
        if column_type == "float":
            return np.array([f"{v:f}" for v in values])
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])

    def to_model_scale(self, values: np.ndarray) -> np.ndarray:
        """Raw label values as the model sees them (the transform graph does the same in TensorFlow)."""
        values = np.asarray(values)
        return np.log(np.maximum(values, LOG_FLOOR)) if self.transform == "log" else values


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
class FeatureSpec:
    """A whole validated spec.  `path` is where it was read from, for messages."""

    name: str
    path: str
    source: Source
    columns: tuple[Column, ...]
    features: tuple[Feature, ...]
    label: Label
    split: Split
    model: ModelType
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
        """Plain data for the manifest; `spec_from_dict` reads it back."""
        data = dataclasses.asdict(self)
        data.update(features=[f.to_dict() for f in self.features], derived=[d.to_dict() for d in self.derived],
                    model=self.model.to_dict())
        return data


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
        raw = load_yaml(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SpecError(path, "file", f"not UTF-8 text: byte {data[e.start]:#04x} at offset {e.start}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"YAML line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise SpecError(path, where, " ".join(f"{e.context or ''} {e.problem or ''}".split())) from None
    except yaml.YAMLError as e:
        raise SpecError(path, "YAML", str(e)) from None
    return parse_spec(raw, path)


def parse_spec(raw: Any, path: str) -> FeatureSpec:
    """Build and validate a FeatureSpec from parsed YAML."""
    top = SpecReader(path, "top level", raw, TOP_LEVEL_KEYS)
    source = _parse_source(top.require("source"), path)
    columns = _parse_columns(top.require("columns"), path)
    column_names = [c.name for c in columns]
    derived = _parse_derived(top.get("derived") or {}, path, column_names)
    join = _parse_join(top.get("join"), path, column_names, source)
    deduplicate = _parse_deduplicate(top.get("deduplicate"), path, columns, join)
    features = _parse_features(top.require("features", list), path, columns, derived)
    label = _parse_label(top.get("label"), path, columns)
    split = _parse_split(top.get("split") or {}, path, column_names)
    model = read_model(top.get("model") or {}, path, features)
    return FeatureSpec(
        name=str(top.get("name") or os.path.splitext(os.path.basename(path))[0]),
        path=path, source=source, columns=columns, derived=derived, join=join,
        features=features, label=label, split=split, model=model, deduplicate=deduplicate,
    )


def _parse_source(raw: Any, path: str) -> Source:
    r = SpecReader(path, "source", raw, SOURCE_KEYS)
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
        r = SpecReader(path, f"column '{name}'", body, COLUMN_KEYS)
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
        if name in column_names:
            raise SpecError(path, f"derived '{name}'", "a derived value cannot reuse the name of an input column")
        derived.append(read_derived(str(name), body, path, column_names + [d.name for d in derived]))
    return tuple(derived)


def _parse_join(raw: Any, path: str, column_names: list[str], source: Source) -> Join | None:
    if raw is None:
        return None
    r = SpecReader(path, "join", raw, JOIN_KEYS)
    key = r.require("key", str)
    cols = r.names("columns")
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
    r = SpecReader(path, "deduplicate", raw, DEDUPLICATE_KEYS)
    key = r.names("key")
    latest_by = r.get("latest_by", None, str)
    main = {c.name for c in columns} - set(join.columns if join else ())
    for name in (*key, *([latest_by] if latest_by else [])):
        if name not in main:
            r.fail(f"unknown column '{name}' (deduplication works on the main table's columns)")
    return Deduplicate(key=key, latest_by=latest_by)


def _parse_features(raw: list, path: str, columns: tuple[Column, ...],
                    derived: tuple[Derived, ...]) -> tuple[Feature, ...]:
    if not raw:
        raise SpecError(path, "features", "declare at least one feature")
    value_names = tuple(c.name for c in columns) + tuple(d.name for d in derived)
    numeric = frozenset({c.name for c in columns if c.is_numeric} | {d.name for d in derived})
    features: list[Feature] = []
    for i, body in enumerate(raw):
        label = body.get("name") if isinstance(body, Mapping) else None
        where = f"feature '{label}'" if label else f"feature #{i + 1}"
        features.append(read_feature(body, path, where, ParseContext(path, value_names, numeric, tuple(features))))
    return tuple(features)


def _parse_label(raw: Any, path: str, columns: tuple[Column, ...]) -> Label:
    if raw is None:
        raise SpecError(path, "label", "missing: name the label column (label: {column: ...})")
    r = SpecReader(path, "label", raw, LABEL_KEYS)
    column = r.require("column", str)
    match = next((c for c in columns if c.name == column), None)
    if match is None:
        r.fail(f"unknown column '{column}'")
    task = r.choice("task", TASKS, "regression")
    if not match.is_numeric and task == "regression":
        r.fail(f"label column '{column}' holds text: a regression label must be numeric (int or float); for classes "
               f"say task: binary_classification or multiclass_classification")
    transform = r.choice("transform", LABEL_TRANSFORMS, "none")
    if transform != "none" and task != "regression":
        r.fail(f"'transform: {transform}' applies to a regression label, not to {task}")
    return Label(column=column, task=task, transform=transform, text=not match.is_numeric)


def _parse_split(raw: Any, path: str, column_names: list[str]) -> Split:
    r = SpecReader(path, "split", raw, SPLIT_KEYS)
    fraction = r.get("eval_fraction", 0.1, (int, float))
    if not 0 < fraction < 1:
        r.fail(f"'eval_fraction' must be between 0 and 1, got {fraction}")
    key = r.names("key") if r.get("key") else ()
    for name in key:
        if name not in column_names:
            r.fail(f"unknown column '{name}'")
    return Split(eval_fraction=float(fraction), key=key, seed=int(r.get("seed", 42, int)))


def spec_from_dict(data: Mapping[str, Any]) -> FeatureSpec:
    """Rebuild a spec saved in a manifest (already validated when it was written)."""
    def tup(v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    return FeatureSpec(
        name=data["name"], path=data["path"],
        source=Source(**data["source"]),
        columns=tuple(Column(**c) for c in data["columns"]),
        derived=tuple(derived_from_dict(d) for d in data["derived"]),
        join=Join(**{k: tup(v) for k, v in data["join"].items()}) if data.get("join") else None,
        features=tuple(feature_from_dict(f) for f in data["features"]),
        label=Label(**data["label"]),
        split=Split(**{k: tup(v) for k, v in data["split"].items()}),
        model=model_from_dict(data["model"]),
        deduplicate=(Deduplicate(**{k: tup(v) for k, v in data["deduplicate"].items()})
                     if data.get("deduplicate") else None),
    )
