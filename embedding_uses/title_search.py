"""An item by id or by title: case-insensitive, forgiving, with suggestions when ambiguous."""

from __future__ import annotations

import difflib
import re

from stage_contracts.errors import UserError
from embedding_uses.id_column import IdColumn

_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")


def find_item(ids: IdColumn, titles: list[str] | None, query: str, title: bool, where: str) -> int:
    """The row of the item `query` names, by id or by title (`titles`: items.tsv's title column, if any).

    A number is only ever an id (`similar 2143` must not quietly answer for
    a title holding "2143"); `title=True` searches titles only.  `where` (the
    model version) is named in the errors.
    """
    if not title and query in ids:
        return ids.position(query)
    if not title and (titles is None or _NUMBER.fullmatch(query)):
        examples = ", ".join(ids.ids[:3])
        hint = f" To search titles for {query!r}, add --title (API: title=True)." if titles is not None else ""
        raise UserError(f"No item with id {query!r} in {where} ({len(ids)} items, ids like {examples}).{hint}")
    if titles is None:
        raise UserError(f"Model {where} has no titles to search (items.tsv has no title column).")
    wanted = _normal(query)
    normals = [_normal(t) for t in titles]
    exact = [i for i, t in enumerate(normals) if t == wanted or _without_year(t) == wanted]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [i for i, t in enumerate(normals) if wanted in t]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = "; ".join(f"{ids.ids[i]}: {titles[i]}" for i in matches[:10])
        more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
        raise UserError(f"{len(matches)} titles match {query!r}: {listed}{more}. Give the id or more of the title.")
    close = difflib.get_close_matches(wanted, normals, n=5, cutoff=0.5)
    hint = "; ".join(f"{ids.ids[normals.index(c)]}: {titles[normals.index(c)]}" for c in close)
    raise UserError(f"No title matches {query!r}." + (f" Did you mean: {hint}?" if hint else ""))


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _without_year(title: str) -> str:
    return re.sub(r"\s*\(\d{4}\)\s*$", "", title)
