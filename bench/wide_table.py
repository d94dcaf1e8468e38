"""A wide table and its spec: N mixed feature columns, the shape of a user's first table with many columns.

Of N features: two quantile-bucketized numbers, one hashed cross of two
vocabularies, and the rest split between vocabularies (strings with
10 to 10,000 distinct values, long-tailed) and z-scored numbers (every
fifth optional, so unknowns are filled as the spec says).  Seeded: same
arguments, same files.  Used by bench/preprocess.py --wide and the
wide-spec equality test.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

CARDINALITIES = (10, 100, 1_000, 10_000)
LABEL = "target"
KEY = "row_id"
SPLIT_SEED = 42
EVAL_FRACTION = 0.1


def wide_spec_text(features: int) -> str:
    """The spec of a table with `features` features (at least 5)."""
    if features < 5:
        raise ValueError("a wide spec needs at least 5 features (2 buckets, a cross of 2 vocabularies, a z-score)")
    vocabularies, z_scores = _counts(features)
    columns = [f"  {KEY}: {{type: int}}", f"  {LABEL}: {{type: float}}"]
    lines = []
    for i in range(vocabularies):
        columns.append(f"  cat_{i:03d}: {{type: string}}")
        lines.append(f"  - {{name: cat_{i:03d}, source: cat_{i:03d}, transform: vocabulary}}")
    for i in range(z_scores):
        optional = ", required: false, missing: mean" if i % 5 == 4 else ""
        columns.append(f"  num_{i:03d}: {{type: float{optional}}}")
        lines.append(f"  - {{name: num_{i:03d}, source: num_{i:03d}, transform: z_score{', log: true' if i % 3 == 2 else ''}}}")
    for i in range(2):
        columns.append(f"  q_{i}: {{type: float}}")
        lines.append(f"  - {{name: q_{i}_bucket, source: q_{i}, transform: quantile_bucketize, num_buckets: {10 * (i + 1)}}}")
    lines.append("  - {name: cat_cross, transform: hashed_cross, cross: [cat_000, cat_001], hash_buckets: 1000}")
    return "\n".join([
        f"name: wide-{features}", "source: {format: csv}", "columns:", *columns, "features:", *lines,
        f"label: {{column: {LABEL}}}",
        f"split: {{eval_fraction: {EVAL_FRACTION}, key: [{KEY}], seed: {SPLIT_SEED}}}",
        "model: {type: dnn, hidden_units: [32]}", ""])


def _counts(features: int) -> tuple[int, int]:
    """(vocabularies, z-scores) among `features`, besides 2 bucketized numbers and 1 cross."""
    rest = features - 3
    vocabularies = max(2, (rest + 1) // 2)
    return vocabularies, rest - vocabularies


def wide_table(features: int, rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    vocabularies, z_scores = _counts(features)
    data: dict[str, pa.Array] = {KEY: pa.array(np.arange(rows, dtype=np.int64)),
                                 LABEL: pa.array(rng.normal(size=rows).round(4))}
    for i in range(vocabularies):
        distinct = CARDINALITIES[i % len(CARDINALITIES)]
        codes = np.minimum(rng.zipf(1.3, size=rows) - 1, distinct - 1)  # long tail, capped
        names = np.char.add(f"v{i}_", np.arange(distinct).astype(str))
        data[f"cat_{i:03d}"] = pa.array(names[codes])
    for i in range(z_scores):
        values = rng.lognormal(mean=i % 7, sigma=1.0, size=rows).round(3)
        mask = (rng.random(rows) < 0.1) if i % 5 == 4 else None
        data[f"num_{i:03d}"] = pa.array(values, mask=mask)
    for i in range(2):
        data[f"q_{i}"] = pa.array(rng.uniform(-50, 50, size=rows).round(3))
    return pa.table(data)


def write_wide_inputs(root: str, features: int, rows: int, seed: int = 1,
                      with_reference_split: bool = True) -> tuple[str, str, list[str]]:
    """table.csv (+ train.csv / eval.csv split as the project splits) and the spec.

    Returns (spec path, table path, column names in file order).
    """
    from features.split import eval_mask

    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    spec_path = os.path.join(root, "wide_spec.yaml")
    with open(spec_path, "w") as f:
        f.write(wide_spec_text(features))
    table = wide_table(features, rows, seed)
    table_path = os.path.join(root, "data", "table.csv")
    options = pacsv.WriteOptions(quoting_style="needed")
    pacsv.write_csv(table, table_path, options)
    if with_reference_split:
        mask = eval_mask(table.combine_chunks().to_batches()[0], (KEY,), SPLIT_SEED, EVAL_FRACTION)
        for name, keep in (("train", ~mask), ("eval", mask)):
            pacsv.write_csv(table.filter(pa.array(keep)), os.path.join(root, f"{name}.csv"), options)
    return spec_path, table_path, table.column_names
