"""The input names of a SavedModel's `predict` signature: written by export, sent by batch prediction.

One rule on both sides of the stage boundary, so a column the exporter renamed is sent under the same name.
"""

from __future__ import annotations

import re

def signature_input_names(columns: list[str]) -> dict[str, str]:
    """Each column's input name in the `predict` signature: SavedModel input names allow only letters, digits
    and `_.-/` (a real table's "Lot Area" becomes "Lot_Area"); a clash gets a numeric suffix."""
    names: dict[str, str] = {}
    for column in columns:
        base = re.sub(r"[^A-Za-z0-9_.\-/]", "_", column)
        base = base if re.match(r"[A-Za-z0-9.]", base) else "x" + base
        name, n = base, 2
        while name.lower() in {v.lower() for v in names.values()}:
            name, n = f"{base}_{n}", n + 1
        names[column] = name
    return names
