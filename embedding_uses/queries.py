"""The arguments of `similar` and `recommend` (CLI and API alike), checked at construction, and a history's ids.

Light (standard library only), so the command line checks them before
TensorFlow loads.  A history is read strictly, the same way from a flag, a
file or the API: a list of ids; a text of comma-separated ids (`"417"` is the
one id 417); or a file holding one id per line, or a CSV whose header names
the item id column.  A path that does not exist, a folder, binary or
non-UTF-8 bytes, and a CSV without the id column are errors that say so.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from typing import Sequence

from stage_contracts.arguments import FieldChecks, is_remote, shown
from stage_contracts.errors import UserError

MAX_K = 100_000  # more than any catalogue a top-K list is read from
MAX_HISTORY_FILE_BYTES = 64 << 20
HISTORY_SUFFIXES = (".csv", ".txt", ".tsv", ".dat", ".list")


@dataclasses.dataclass(frozen=True)
class SimilarQuery:
    """`similar`: the k items nearest `item` in a model version.

    `item` is an id; a text that is not a number may also be (part of) a
    title, and `title=True` reads it as a title only (a movie called "1941").
    A number the catalogue does not hold is an error, never a title match.
    """

    model: str  # a model version folder, or a model dir
    item: str
    k: int = 10
    title: bool = False

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        check.existing_path("model", folder=True)
        _id_text(check, "item")
        check.integer("k", minimum=1, maximum=MAX_K)
        check.boolean("title")


@dataclasses.dataclass(frozen=True)
class RecommendQuery:
    """`recommend`: the top k for a known `user`, or for a new user by `history` (ids, a text of ids, or a file)."""

    model: str
    user: str | None = None
    history: str | Sequence[str] | None = None
    k: int = 10
    popularity_weight: float | None = None  # None: the weight chosen when the model was trained
    rating_weight: float | None = None

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        check.existing_path("model", folder=True)
        if (self.user is None) == (self.history is None):
            raise UserError(f"{check.owner}: give either user or history (the ids of the items a new user rated), "
                            f"not {'both' if self.user is not None else 'neither'}.")
        if self.user is not None:
            _id_text(check, "user")
        else:
            _history(check)
        check.integer("k", minimum=1, maximum=MAX_K)
        check.real("popularity_weight", optional=True)
        check.real("rating_weight", optional=True)

    def history_ids(self, id_column: str) -> list[str]:
        """The history's ids as given (a file read with `id_column` as its CSV column); [] for a known user."""
        if self.history is None:
            return []
        if isinstance(self.history, tuple):
            return list(self.history)
        if looks_like_path(self.history):
            return read_history_file(self.history, id_column)
        return [part.strip() for part in self.history.split(",") if part.strip()]


def _id_text(check: FieldChecks, name: str) -> None:
    """An id: a non-empty text, or an integer (stored as its text)."""
    value = check.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        check.set(name, str(value))
    check.text(name)
    check.set(name, check.get(name).strip())


def looks_like_path(text: str) -> bool:
    """A history text that names a file: it exists, or it has a folder separator or a file suffix."""
    return (os.path.exists(text) or is_remote(text) or os.sep in text or "/" in text
            or text.lower().endswith(HISTORY_SUFFIXES))


def _history(check: FieldChecks) -> None:
    value = check.get("history")
    allowed = "item ids: a list of ids, a text of comma-separated ids, or a file of them"
    if isinstance(value, str):
        if looks_like_path(value):
            if not is_remote(value) and not os.path.isfile(value):
                check.fail("history", allowed + (f" ({value} is a folder)" if os.path.isdir(value) else
                                                 f" (no such file: {value})"))
            return
        if not [p for p in value.split(",") if p.strip()] or "\0" in value:
            check.fail("history", allowed)
        return
    if isinstance(value, (bytes, dict)) or not isinstance(value, (list, tuple, set, frozenset, range)) \
            or not value:
        check.fail("history", allowed)
    ids = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip() or "\0" in item:
            check.fail("history", f"{allowed}; one of the ids is {shown(item)}")
        ids.append(item.strip())
    check.set("history", tuple(ids))


def read_history_file(path: str, id_column: str) -> list[str]:
    """The ids in a history file: one per line (an optional `id_column` header first), or a CSV with that column."""
    if is_remote(path):
        import tensorflow as tf  # gs:// paths; only reached once the index (and so TensorFlow) is loaded

        opened = tf.io.gfile.GFile(path, "rb")
    else:
        opened = open(path, "rb")
    with opened as f:
        data = f.read(MAX_HISTORY_FILE_BYTES + 1)
    if len(data) > MAX_HISTORY_FILE_BYTES:
        raise UserError(f"History file {path} is over {MAX_HISTORY_FILE_BYTES >> 20} MiB; a history is a list of "
                        f"item ids.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"History file {path} is not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start}); "
                        f"give one item id per line, or a CSV with a {id_column} column.") from None
    if "\0" in text or sum(not ch.isprintable() and ch not in "\r\n\t" for ch in text[:4096]) > 0:
        raise UserError(f"History file {path} holds binary data, not text; give one item id per line, or a CSV "
                        f"with a {id_column} column.")
    rows = [row for row in csv.reader(io.StringIO(text, newline=""))
            if row and any(cell.strip() for cell in row)]
    if not rows:
        raise UserError(f"History file {path} holds no item ids (one per line, or a CSV with a {id_column} column).")
    header = [cell.strip() for cell in rows[0]]
    if len(header) > 1 or any(len(row) > 1 for row in rows[1:]):
        if id_column not in header:
            raise UserError(f"History file {path} is a CSV without a {id_column} column (its header: "
                            f"{shown(','.join(header))}); name the item id column {id_column}, or give one id "
                            f"per line.")
        column = header.index(id_column)
        ids = [row[column].strip() if len(row) > column else "" for row in rows[1:]]
        missing = sum(not i for i in ids)
        if missing:
            raise UserError(f"History file {path}: {missing} row(s) have no {id_column} value.")
    else:
        ids = [row[0].strip() for row in rows[1 if header == [id_column] else 0:]]
    if not ids:
        raise UserError(f"History file {path} holds no item ids (only a header).")
    return ids
