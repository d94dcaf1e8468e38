"""One role's ids (users or items) of an embedding index, in row order: positions, and ids typed like the source."""

from __future__ import annotations

import pyarrow as pa

from embedding_uses.layout import typed_ids


class IdColumn:
    """Ids as the TSVs hold them (text), each id's row, and the same ids typed like their source column."""

    def __init__(self, ids: list[str], id_type: str):
        self.ids, self.id_type = ids, id_type
        self._position = {v: i for i, v in enumerate(ids)}
        self._typed: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: str) -> bool:
        return id_ in self._position

    def position(self, id_: str) -> int | None:
        """The row of an id given as text or as a number (None when unknown)."""
        return self._position.get(str(id_))

    def typed(self) -> pa.Array:
        """Every id typed like its source column (MovieLens: int64), in row order; made once."""
        if self._typed is None:
            self._typed = typed_ids(self.ids, self.id_type)
        return self._typed
