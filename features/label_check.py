"""Whether a label can be learned at all: refused before any training, with the reason.

A label with one value (a constant, or one class) trains to nothing (a
binary model's AUC is then undefined) and a class seen a handful of times
cannot be learned or scored; `init-spec` checks the sample it drafts from
and `preprocess` the train split it writes, with the same rule.
"""

from __future__ import annotations

from typing import Mapping

from features.spec import MIN_CLASS_ROWS, Label


def label_problem(label: Label, class_counts: Mapping[str, int] | None = None, distinct_values: int = 2) -> str | None:
    """Why this label cannot be learned, or None.

    `class_counts`: rows per class (classification labels); `distinct_values`:
    distinct label values (regression labels).
    """
    if label.is_classification and class_counts is not None:
        counts = {str(k): int(v) for k, v in class_counts.items() if v}
        if len(counts) < 2:
            only = next(iter(counts), "nothing")
            return f"it holds one class only ({only!r}): there is nothing to tell apart"
        if label.is_binary and len(counts) > 2 and not label.has_vocabulary:
            return f"binary_classification needs two values, it has {len(counts)}; say task: multiclass_classification"
        rare = sorted((n, k) for k, n in counts.items() if n < MIN_CLASS_ROWS)
        if rare:
            listed = ", ".join(f"{k!r} ({n} rows)" for n, k in rare[:5])
            return (f"class(es) {listed} have fewer than {MIN_CLASS_ROWS} rows, too few to learn or score; merge "
                    f"them into another class or drop those rows")
        return None
    if distinct_values < 2:
        return "it has the same value in every row: there is nothing to predict"
    return None
