"""How sample tables are written: CSV as GroupLens ships it, shared by every sample writer."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv

def write_csv(table: pa.Table, path: str) -> None:
    """CSV like GroupLens writes it: a bare header, quotes only where needed."""
    with open(path, "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
