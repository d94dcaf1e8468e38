"""Derived values: numbers computed from raw columns inside the transform graph, one class per kind.

They run inside TFT's graph, so the exported model computes them from a raw
request exactly as preprocessing did (the year in a MovieLens title, rooms
per household).  A derivation is unknown (NaN) where it cannot be computed;
the features reading it treat NaN as "no value".  Adding a kind is one class
here, registered with `@derivation_kind("name")`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from features.registry import Registry
from features.spec_reader import SpecReader


@dataclasses.dataclass(frozen=True)
class Derived:
    """A value named `name`, computed from `inputs` (raw columns or derived values declared above)."""

    kind: ClassVar[str] = ""

    name: str
    inputs: tuple[str, ...]

    @classmethod
    def read(cls, name: str, r: SpecReader) -> "Derived":
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def describe(self) -> str:
        raise NotImplementedError

    def apply(self, values: dict):
        """The derived tensor (float32, NaN where unknown) from the dense input values."""
        raise NotImplementedError


KINDS: Registry[Derived] = Registry("kind")
derivation_kind = KINDS.register  # @derivation_kind("name") on a Derived subclass


def read_derived(name: str, body: Any, path: str, known: list[str]) -> Derived:
    """One `derived:` entry: exactly one derivation kind, reading names already known."""
    r = SpecReader(path, f"derived '{name}'", body, KINDS.names())
    if len(body) != 1:
        r.fail(f"give exactly one derivation, one of {', '.join(KINDS.names())}")
    kind = next(iter(body))
    derived = KINDS.get(kind).read(str(name), SpecReader(path, f"derived '{name}'", body, (kind,)))
    for inp in derived.inputs:
        if inp not in known:
            r.fail(f"unknown column '{inp}'")
    return derived


def derived_from_dict(data: Mapping[str, Any]) -> Derived:
    return KINDS.from_dict(data)


def _unknown_as_nan(x):
    import tensorflow as tf

    return tf.where(tf.math.is_finite(x), x, float("nan"))


@derivation_kind("regex_extract")
@dataclasses.dataclass(frozen=True)
class RegexExtract(Derived):
    """The first capture group of `pattern` in a text column, as a number."""

    pattern: str = ""

    @classmethod
    def read(cls, name: str, r: SpecReader) -> "RegexExtract":
        rr = SpecReader(r.path, f"{r.where}.regex_extract", r.raw["regex_extract"], ("column", "pattern"))
        column = rr.require("column", str)
        pattern = rr.require("pattern", str)
        if "(" not in pattern:
            rr.fail("the pattern needs a capture group: the first group is the value")
        return cls(name=name, inputs=(column,), pattern=pattern)

    def describe(self) -> str:
        return f"regex {self.pattern!r} on {self.inputs[0]}"

    def apply(self, values: dict):
        import tensorflow as tf

        text = values[self.inputs[0]]
        pattern = f".*?{self.pattern}.*"
        matched = tf.strings.regex_full_match(text, pattern)
        captured = tf.strings.regex_replace(text, pattern, r"\1")
        return _unknown_as_nan(tf.strings.to_number(tf.where(matched, captured, "nan"), tf.float32))


@derivation_kind("ratio")
@dataclasses.dataclass(frozen=True)
class Ratio(Derived):
    """numerator / denominator; unknown where the denominator is 0."""

    @classmethod
    def read(cls, name: str, r: SpecReader) -> "Ratio":
        inputs = r.names("ratio")
        if len(inputs) != 2:
            r.fail("'ratio' takes two names: [numerator, denominator]")
        return cls(name=name, inputs=inputs)

    def describe(self) -> str:
        return f"{self.inputs[0]} / {self.inputs[1]}"

    def apply(self, values: dict):
        import tensorflow as tf

        numerator, denominator = (tf.cast(values[name], tf.float32) for name in self.inputs)
        return _unknown_as_nan(numerator / denominator)
