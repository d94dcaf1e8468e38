"""Checks of what a user types: each config's fields, validated once at construction, for the CLI and the API alike.

A config dataclass calls `FieldChecks(self)` in its `__post_init__` and
checks each field by kind (an integer in a range, a finite number, a strict
bool, a choice, a path that must exist or must not be a file).  A bad value
raises `ArgumentError`, a `UserError` naming the config, the field, the
value and what is allowed; the command line names the flag instead
(`for_flags`), since every flag's argparse `dest` is its config field's name
(`from_namespace`).  Standard library only: configs are built before
TensorFlow or Beam load.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import os
import re
from typing import Any, Iterable, Mapping, TypeVar

from stage_contracts.errors import UserError

MAX_INT = 2**31 - 1  # TensorFlow's int32 sizes: a larger count is a typo, not a request
MAX_SEED = 2**32 - 1  # numpy's legacy seeding and TensorFlow accept these
C = TypeVar("C")


def shown(value: Any, limit: int = 80) -> str:
    """A value as the user can recognise it, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + " ...>"


class ArgumentError(UserError):
    """One field of a config holds a value it cannot take."""

    def __init__(self, owner: str, field: str, value: Any, allowed: str):
        self.owner, self.field, self.value, self.allowed = owner, field, value, allowed
        super().__init__(self.message(f"{owner}: {field}"))

    def message(self, subject: str) -> str:
        return f"{subject} must be {self.allowed}, got {shown(self.value)}."

    def for_flags(self, flags: Mapping[str, str]) -> UserError:
        """The same error naming the command-line flag of the field (when it has one)."""
        flag = flags.get(self.field)
        if not flag:
            return self
        return UserError(f"{flag} must be {re.sub(r' [(]or None[^)]*[)]', '', self.allowed)}, got {shown(self.value)}.")


def is_remote(path: str) -> bool:
    """gs://, s3://... : such paths are checked by the job that reads them, not here."""
    return "://" in path


class FieldChecks:
    """The fields of one (frozen) config: each check reads a field, refuses a bad value, stores the normal form."""

    def __init__(self, config: Any):
        self.config, self.owner = config, type(config).__name__

    def get(self, name: str) -> Any:
        return getattr(self.config, name)

    def set(self, name: str, value: Any) -> Any:
        object.__setattr__(self.config, name, value)
        return value

    def fail(self, name: str, allowed: str, value: Any = dataclasses.MISSING) -> None:
        raise ArgumentError(self.owner, name, self.get(name) if value is dataclasses.MISSING else value, allowed)

    # ------------------------------------------------------------------ scalars
    def integer(self, name: str, minimum: int | None = None, maximum: int = MAX_INT, optional: bool = False) -> None:
        value = self.get(name)
        if value is None and optional:
            return
        allowed = "an integer" + (f" <= {maximum:,}" if minimum is None else f" >= {minimum:,}" if maximum == MAX_INT
                                  else f" from {minimum:,} to {maximum:,}")
        if not _is_integer(value) or (minimum is not None and value < minimum) or value > maximum:
            self.fail(name, allowed + (" (or None)" if optional else ""))
        self.set(name, int(value))

    def real(self, name: str, minimum: float | None = None, maximum: float | None = None, above: float | None = None,
             optional: bool = False) -> None:
        """A finite number; `minimum`/`maximum` inclusive, `above` exclusive."""
        value = self.get(name)
        if value is None and optional:
            return
        bounds = [f">= {minimum:g}" if minimum is not None else "", f"> {above:g}" if above is not None else "",
                  f"<= {maximum:g}" if maximum is not None else ""]
        allowed = " and ".join(["a finite number"] + [b for b in bounds if b]).replace("number and", "number")
        if (not _is_real(value) or not math.isfinite(value) or (minimum is not None and value < minimum)
                or (above is not None and value <= above) or (maximum is not None and value > maximum)):
            self.fail(name, allowed + (" (or None)" if optional else ""))
        self.set(name, float(value))

    def boolean(self, name: str, optional: bool = False) -> None:
        value = self.get(name)
        if value is None and optional:
            return
        if type(value).__name__ not in ("bool", "bool_"):  # numpy's bool too, but never "no", 0 or 1
            self.fail(name, "True or False" + (" (or None: decided from the data)" if optional else ""))
        self.set(name, bool(value))

    def text(self, name: str, optional: bool = False) -> None:
        value = self.get(name)
        if value is None and optional:
            return
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            self.fail(name, "a non-empty text" + (" (or None)" if optional else ""))

    def choice(self, name: str, choices: Iterable[str]) -> None:
        choices = tuple(choices)
        if not isinstance(self.get(name), str) or self.get(name) not in choices:
            self.fail(name, "one of " + ", ".join(choices))

    # ------------------------------------------------------------------ sequences
    def integers(self, name: str, minimum: int = 1, optional: bool = False, nested: bool = False) -> None:
        """A non-empty list of integers >= minimum, stored as a tuple; `nested`: a non-empty list of such lists."""
        value = self.get(name)
        if value is None and optional:
            return
        items = _items(value)
        normal = (None if items is None else tuple(_integers(v, minimum) for v in items) if nested
                  else _integers(value, minimum))
        if normal is None or (nested and None in normal):
            self.fail(name, f"a non-empty list of integers >= {minimum}" if not nested else
                      f"a non-empty list of non-empty lists of integers >= {minimum} (e.g. [[64], [128, 64]])")
        self.set(name, normal)

    def reals(self, name: str, above: float, optional: bool = False) -> None:
        """A non-empty list of finite numbers > above, stored as a tuple."""
        value = self.get(name)
        if value is None and optional:
            return
        items = _items(value)
        if items is None or not all(_is_real(v) and math.isfinite(v) and v > above for v in items):
            self.fail(name, f"a non-empty list of finite numbers > {above:g}")
        self.set(name, tuple(float(v) for v in items))

    def texts(self, name: str, empty: bool = False) -> None:
        """A list of texts, non-empty unless `empty` (one text is a list of one), stored as a tuple."""
        value = self.get(name)
        items = [] if value is None else [value] if isinstance(value, str) else value
        if isinstance(items, (bytes, Mapping)) or not isinstance(items, Iterable):
            self.fail(name, "a list of non-empty texts")
        items = list(items)
        if not all(isinstance(v, str) and (empty or v.strip()) and "\0" not in v for v in items):
            self.fail(name, "a list of texts" if empty else "a list of non-empty texts")
        self.set(name, tuple(items))

    # ------------------------------------------------------------------ paths
    def existing_path(self, name: str, optional: bool = False, folder: bool = False) -> None:
        """A local path that exists (a folder when `folder`); remote paths are left to the job."""
        self.text(name, optional)
        value = self.get(name)
        if value is None or is_remote(value):
            return
        if not os.path.exists(value) or (folder and not os.path.isdir(value)):
            self.fail(name, f"an existing {'folder' if folder else 'path'} (no such {'folder' if folder else 'path'})")

    def output_folder(self, name: str, optional: bool = False) -> None:
        """A local folder to write (made with its parents): not an existing file, and not under one."""
        self._output(name, "a folder to write into", optional)
        value = self.get(name)
        if value is not None and not is_remote(value) and os.path.isfile(value):
            self.fail(name, "a folder to write into, not an existing file")

    def output_file(self, name: str) -> None:
        """A local file to write (its folder made if missing): not an existing folder, and not under a file."""
        self._output(name, "a file to write", False)
        value = self.get(name)
        if not is_remote(value) and (os.path.isdir(value) or value.endswith(("/", os.sep))):
            self.fail(name, "a file to write, not a folder")

    def _output(self, name: str, what: str, optional: bool) -> None:
        self.text(name, optional)
        value = self.get(name)
        if value is None or is_remote(value):
            return
        parent = os.path.dirname(os.path.abspath(value))
        while not os.path.exists(parent) and os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            self.fail(name, f"{what}, but {parent} is a file")


def _items(value: Any) -> list | None:
    """The items of a non-empty list-like value (not a text, bytes or mapping), else None."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return None
    return list(value) or None


def _integers(value: Any, minimum: int) -> tuple[int, ...] | None:
    items = _items(value)
    if items is None or not all(_is_integer(v) and minimum <= v <= MAX_INT for v in items):
        return None
    return tuple(int(v) for v in items)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def from_namespace(cls: type[C], args: argparse.Namespace, **given: Any) -> C:
    """A config from parsed flags: each field from the flag whose `dest` is its name, unless given here.

    Fields without a flag keep their defaults, so a flag and its field cannot drift apart silently
    (tests/test_arguments.py checks that every flag names a field or is listed as the command's own).
    """
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **given})


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> the flag a user types (its longest option string, or the positional's name)."""
    return {a.dest: max(a.option_strings, key=len) if a.option_strings else (a.metavar or a.dest)
            for a in parser._actions if a.dest != argparse.SUPPRESS}


def check_argument(owner: str, name: str, value: Any, kind: str, **options: Any) -> Any:
    """One function argument checked like a config field (`kind`: a FieldChecks method); its normal form."""
    holder = argparse.Namespace(**{name: value})
    checks = FieldChecks(holder)
    checks.owner = owner
    getattr(checks, kind)(name, **options)
    return getattr(holder, name)
