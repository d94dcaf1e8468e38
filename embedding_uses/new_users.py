"""Users the model never saw, described by the items they rated: their history as the model reads it, and their
vector from the exported model's `user_vector` signature (its user tower)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from stage_contracts.errors import UserError
from embedding_uses.id_column import IdColumn

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class History:
    """A new user's history: `given` ids, the distinct `known` ones (`positions` in the index) and `unknown` ones,
    and the `read` ids (at most HISTORY_MAX_ITEMS of the known) that the user tower reads."""

    given: int
    known: tuple[str, ...]
    unknown: tuple[str, ...]
    positions: tuple[int, ...]
    read: tuple[str, ...]

    @property
    def unknown_note(self) -> str:
        shown = ", ".join(self.unknown[:10]) + (" ..." if len(self.unknown) > 10 else "")
        return (f"{len(self.unknown)} of {len(self.known) + len(self.unknown)} history ids unknown to the model, "
                f"left out: {shown}")

    def describe(self) -> str:
        """"a new user with 12 rated item(s)", and what was left out or capped."""
        notes = [f"{self.given - len(self.known) - len(self.unknown)} repeated id(s) counted once"] \
            if self.given > len(self.known) + len(self.unknown) else []
        notes += [f"{len(self.unknown)} unknown id(s) left out"] if self.unknown else []
        notes += [f"the user tower reads {len(self.read)} of them, as in training"] \
            if len(self.read) < len(self.known) else []
        return f"a new user with {len(self.known)} rated item(s)" + (f" ({'; '.join(notes)})" if notes else "")


class NewUsers:
    """Histories and vectors of new users for one model version; its SavedModel is loaded on the first vector."""

    def __init__(self, version_dir: str, items: IdColumn):
        self.version_dir, self.items = version_dir, items
        self.saved_model = None  # kept once loaded: its signatures need its variables

    def history(self, item_ids: list[str]) -> History:
        """A new user's history as the model reads it: ids collapsed, unknown ones set aside (an error when none
        is known), and capped to HISTORY_MAX_ITEMS like a training history (the same seeded sample)."""
        from embedding_uses.rated import HISTORY_MAX_ITEMS, capped_rows  # Keras loads with it: not for `similar`

        distinct = list(dict.fromkeys(str(i).strip() for i in item_ids))
        known = [i for i in distinct if i in self.items]
        unknown = [i for i in distinct if i not in self.items]
        if not known:
            shown = ", ".join(distinct[:5]) + (" ..." if len(distinct) > 5 else "")
            raise UserError(f"None of the {len(distinct)} history item id(s) ({shown}) is in the model's catalogue "
                            f"({len(self.items)} items, e.g. {', '.join(self.items.ids[:3])}).")
        positions = np.array([self.items.position(i) for i in known], np.int64)
        _, sample = capped_rows(np.array([0, len(positions)]), positions, HISTORY_MAX_ITEMS)
        history = History(len(item_ids), tuple(known), tuple(unknown), tuple(positions.tolist()),
                          tuple(self.items.ids[i] for i in sample.tolist()))
        if unknown:
            log.warning("%s", history.unknown_note)
        return history

    def vector(self, item_ids: list[str]) -> np.ndarray:
        """(1, dim): the vector of a user the model never saw, from the ids of the items they rated."""
        history = self.history(item_ids)
        if self.saved_model is None:  # loading the SavedModel takes seconds: once per index
            self.saved_model = tf.saved_model.load(self.version_dir)
        signature = self.saved_model.signatures.get("user_vector")
        if signature is None:
            raise UserError(f"Model {self.version_dir} cannot describe a new user by their history: it was "
                            f"trained without `user_history: true` (model section of the spec).")
        return signature(item_ids=tf.constant(list(history.read)))["user_vector"].numpy()
