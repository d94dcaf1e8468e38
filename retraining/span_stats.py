"""Statistics of one span of new data, and the checks that compare it with the spans before it.

A day of broken data must stop a scheduled retrain before any training: a
span whose row count, rejected share, label distribution, null rates, share
of never-seen ids or label consistency falls outside configured bounds is
refused with a message naming the statistic, its value and the bound.

Spans are small next to the whole history, so they are read in-process with
the same parsing and validation code as the Beam job (no pipeline start-up).
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pyarrow as pa
import tensorflow as tf

from beam_jobs.checks import check_inputs
from beam_jobs.join import join_batch, read_side_table
from beam_jobs.layouts import table_layout
from beam_jobs.parse import DEFAULT_CHUNK_BYTES, LINE_COLUMN, parse_chunk, plan_chunks
from embedding_uses.rated import distinct_sorted
from features.spec import FeatureSpec
from features.split import eval_mask


@dataclasses.dataclass
class SpanData:
    """A span's kept rows, its rejected rows (with reasons) and its layout."""

    rows: pa.Table
    rejected_rows: list[dict]
    layout: str

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)

    @property
    def read(self) -> int:
        return self.rows.num_rows + self.rejected


def read_span(spec: FeatureSpec, path: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> SpanData:
    """Parse, validate and join one span exactly as the preprocess job does (without deduplication)."""
    layout = table_layout(spec, path)
    check_inputs(spec, layout)
    side = None
    if spec.join:
        side, _ = read_side_table(layout.side_tables[spec.join.table or "join"], spec.column(spec.join.key),
                                  spec.joined_columns)
    batches, rejected = [], []
    for fmt in layout.main:
        for chunk in plan_chunks(fmt, chunk_bytes):
            batch, bad = parse_chunk(chunk, fmt, spec.main_columns)
            if side is not None:
                batch, unjoined = join_batch(batch, side, spec.join, chunk.path)
                bad = bad + unjoined
            rejected += bad
            batches.append(batch.drop_columns([LINE_COLUMN]))
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    return SpanData(table, rejected, layout.name)


def eval_rows(spec: FeatureSpec, span: SpanData) -> pa.Table:
    """The span's rows that the stable split sends to eval."""
    if span.rows.num_rows == 0:
        return span.rows
    batch = span.rows.combine_chunks().to_batches()[0]
    mask = eval_mask(batch, spec.split.key, spec.split.seed, spec.split.eval_fraction)
    return span.rows.filter(pa.array(mask))


def span_statistics(spec: FeatureSpec, span: SpanData) -> tuple[dict, dict[str, np.ndarray]]:
    """Scalar statistics (JSON) and arrays (ids, per-item label sums) of one span."""
    rows = span.rows
    raw = rows.column(spec.label.column).to_numpy(zero_copy_only=False) if rows.num_rows else np.zeros(0)
    # Classes named by text are no numbers: their label checks are left out (NaN), their shares recorded instead.
    label = np.full(len(raw), np.nan) if spec.label.has_vocabulary else raw.astype(np.float64)
    stats = {
        "rows_read": span.read, "rows_rejected": span.rejected,
        "rejected_fraction": span.rejected / span.read if span.read else 0.0,
        "label_mean": float(label.mean()) if len(label) else float("nan"),
        "label_std": float(label.std()) if len(label) else float("nan"),
        "null_rate": {c.name: float(rows.column(c.name).null_count / max(rows.num_rows, 1))
                      for c in spec.main_columns if not c.required and c.name in rows.column_names},
    }
    if spec.label.has_vocabulary and len(raw):
        names, counts = np.unique(spec.label.class_names(raw, spec.column(spec.label.column).type), return_counts=True)
        stats["class_shares"] = {str(n): float(c / len(raw)) for n, c in zip(names, counts)}
    arrays: dict[str, np.ndarray] = {}
    for role, column in spec.model.id_columns(spec).items():
        ids = rows.column(column).to_numpy(zero_copy_only=False).astype(str)
        arrays[f"{role}_ids"] = ids
        if role == "item":
            unique, inverse = np.unique(ids, return_inverse=True)
            arrays["item_unique"] = unique
            arrays["item_label_sum"] = np.bincount(inverse, label, len(unique))
            arrays["item_label_count"] = np.bincount(inverse, minlength=len(unique)).astype(np.float64)
    return stats, arrays


def compare_with_history(stats: dict, arrays: dict[str, np.ndarray], history: list[tuple[dict, dict]]) -> dict:
    """Add to `stats` the statistics that need earlier spans: label shift, unseen ids, label consistency."""
    if not history:
        return stats
    means = np.array([h["label_mean"] for h, _ in history])
    weights = np.array([h["rows_read"] - h["rows_rejected"] for h, _ in history], dtype=np.float64)
    stds = np.array([h["label_std"] for h, _ in history])
    previous_mean = float(np.average(means, weights=weights))
    stats["label_mean_shift"] = abs(stats["label_mean"] - previous_mean)
    stats["label_std_ratio"] = stats["label_std"] / float(np.average(stds, weights=weights))
    for role in ("user", "item"):
        key = f"{role}_ids"
        if key in arrays and len(arrays[key]):
            seen = distinct_sorted(np.concatenate([a[key] for _, a in history if key in a] or [np.zeros(0, str)]))
            stats[f"unseen_{role}_share"] = float(np.mean(~np.isin(arrays[key], seen)))
    if "item_unique" in arrays:
        stats["item_label_correlation"] = _item_label_correlation(arrays, [a for _, a in history])
    return stats


def _item_label_correlation(new: dict, previous: list[dict], min_count: int = 3) -> float:
    """Correlation of per-item mean labels, new span vs earlier spans: near 0 when labels were scrambled."""
    items = np.concatenate([p["item_unique"] for p in previous])
    sums = np.concatenate([p["item_label_sum"] for p in previous])
    counts = np.concatenate([p["item_label_count"] for p in previous])
    unique, inverse = np.unique(items, return_inverse=True)
    old_sum, old_count = np.bincount(inverse, sums, len(unique)), np.bincount(inverse, counts, len(unique))
    position = np.searchsorted(unique, new["item_unique"])
    position = np.minimum(position, len(unique) - 1)
    found = unique[position] == new["item_unique"]
    both = found & (new["item_label_count"] >= min_count) & (old_count[position] >= min_count)
    if both.sum() < 10:
        return float("nan")
    a = new["item_label_sum"][both] / new["item_label_count"][both]
    b = old_sum[position[both]] / old_count[position[both]]
    return float(np.corrcoef(a, b)[0, 1])


# bound name -> (statistic, kind): "max" fails above, "min" fails below, "range" outside [lo, hi]
CHECKS = {
    "min_rows": ("rows_read", "min"),
    "max_rejected_fraction": ("rejected_fraction", "max"),
    "max_label_mean_shift": ("label_mean_shift", "max"),
    "label_std_ratio": ("label_std_ratio", "range"),
    "max_unseen_user_share": ("unseen_user_share", "max"),
    "max_unseen_item_share": ("unseen_item_share", "max"),
    "min_item_label_correlation": ("item_label_correlation", "min"),
}


def failed_checks(stats: dict, bounds: dict) -> list[str]:
    """One line per statistic outside its bound: the statistic, its value and the bound."""
    problems = []
    for bound, (name, kind) in CHECKS.items():
        if bound not in bounds or bounds[bound] is None or name not in stats:
            continue
        value, limit = stats[name], bounds[bound]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        bad = {"max": lambda: value > limit, "min": lambda: value < limit,
               "range": lambda: not limit[0] <= value <= limit[1]}[kind]()
        if bad:
            problems.append(f"{name} = {value:.4g} is outside the bound {bound}: {limit}")
    for column, rate in stats.get("null_rate", {}).items():
        if bounds.get("max_null_rate") is not None and rate > bounds["max_null_rate"]:
            problems.append(f"null_rate of {column} = {rate:.4g} is outside the bound max_null_rate: "
                            f"{bounds['max_null_rate']}")
    return problems


def save_arrays(path: str, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buf.getvalue())


def load_arrays(path: str) -> dict[str, np.ndarray]:
    with tf.io.gfile.GFile(path, "rb") as f:
        data = np.load(io.BytesIO(f.read()), allow_pickle=False)
        return {k: data[k] for k in data.files}
