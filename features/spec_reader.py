"""Reading one mapping of a spec's YAML: unknown keys, types and choices, each error naming its record.

Shared by the spec's own sections and by every feature, derivation and
model kind, which read their options through it, so a mistake anywhere is
reported the same way: the spec file, the record, what is wrong and, where
it can guess, what was meant.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping, NoReturn

import yaml

from stage_contracts.errors import SpecError


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, except that a key given twice in one mapping is an error (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own error follows
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first}, again on line {line}): each key "
                                f"once per mapping", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(text: str):
    """Parse YAML like yaml.safe_load, refusing duplicate keys (yaml.YAMLError naming the key and lines)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


class SpecReader:
    """One mapping of the YAML, with its unknown keys already rejected (with a "did you mean")."""

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

    def fail(self, problem: str) -> NoReturn:
        raise SpecError(self.path, self.where, problem)

    def has(self, key: str) -> bool:
        return key in self.raw

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

    def non_negative(self, key: str) -> float:
        value = self.require(key, (int, float))
        if isinstance(value, bool) or value < 0:
            self.fail(f"'{key}' must be >= 0, got {value}")
        return float(value)

    def names(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A name or a list of names, as a tuple."""
        value = self.raw.get(key) if key in self.raw else (default if default is not None else self.require(key))
        if isinstance(value, str):
            return (value,)
        if isinstance(value, tuple):
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"'{key}' must be a name or a list of names, got {value!r}")
        return tuple(value)


def suggest(name: str, known: list[str]) -> str:
    """` (did you mean 'x'?)` for the closest known name, or nothing."""
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
