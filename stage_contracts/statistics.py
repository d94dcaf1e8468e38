"""The statistics files of a preprocess output: where they are, how to read them, how to show them.

The preprocess job (beam_jobs/statistics.py) writes the statistics of the
train and eval splits as TFDV's `DatasetFeatureStatisticsList`:

    statistics/stats.tfrecord              both splits, one record: `tfdv.load_statistics(path)`
    statistics/Split-<split>/FeatureStats.pb   one split, binary proto: TFX StatisticsGen's artifact layout
                                           (`tfdv.load_stats_binary(path)`)
    statistics/summary.png                 per column and split: distribution or top values, missing share

Here they are read back (no Beam, no TFDV) for `embedflow describe
--preprocessed` and the Python API.
"""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import statistics_pb2

STATISTICS_DIR = "statistics"
STATISTICS_FILE = os.path.join(STATISTICS_DIR, "stats.tfrecord")
STATISTICS_PICTURE = os.path.join(STATISTICS_DIR, "summary.png")
PROTO_TYPES = {"int": statistics_pb2.FeatureNameStatistics.INT, "float": statistics_pb2.FeatureNameStatistics.FLOAT,
               "string": statistics_pb2.FeatureNameStatistics.STRING}
_COVERAGE_PREFIX = "vocabulary_coverage/"
MAX_PANELS = 24
SKETCH_SIZE = 1024  # Misra-Gries counters and KMV hashes (beam_jobs/statistics.py): distinct counts up to it are
# exact (KMV then keeps every hash), larger ones estimates within ~3%


def split_statistics_file(split: str) -> str:
    return os.path.join(STATISTICS_DIR, f"Split-{split}", "FeatureStats.pb")


def coverage_stat(feature: str) -> str:
    """The custom statistic holding the share of a split's values that `feature`'s vocabulary covers."""
    return _COVERAGE_PREFIX + feature


def load_statistics(preprocess_dir: str) -> statistics_pb2.DatasetFeatureStatisticsList | None:
    """The statistics of a preprocess output, or None when it has none (written with --no-statistics)."""
    path = os.path.join(preprocess_dir, STATISTICS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    record = next(iter(tf.data.TFRecordDataset(path))).numpy()
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(record)


def common_statistics(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind else statistics_pb2.CommonStatistics()


def missing_share(feature: statistics_pb2.FeatureNameStatistics) -> float:
    common = common_statistics(feature)
    rows = common.num_missing + common.num_non_missing
    return common.num_missing / rows if rows else 0.0


def coverages(feature: statistics_pb2.FeatureNameStatistics) -> dict[str, float]:
    """Vocabulary feature -> share of this split's values its vocabulary covers."""
    return {c.name[len(_COVERAGE_PREFIX):]: c.num for c in feature.custom_stats if c.name.startswith(_COVERAGE_PREFIX)}


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _summary(feature: statistics_pb2.FeatureNameStatistics) -> str:
    if feature.HasField("num_stats"):
        s = feature.num_stats
        return (f"mean {_number(s.mean)}, std {_number(s.std_dev)}, min {_number(s.min)}, "
                f"median {_number(s.median)}, max {_number(s.max)}")
    s = feature.string_stats
    top = ", ".join(f"{v.value[:24]} ({v.frequency:,.0f})" for v in s.top_values[:3])
    parts = [distinct(s), f"top {top}"]
    parts += [f"{name} vocabulary covers {share:.1%}" for name, share in coverages(feature).items()]
    return "; ".join(parts)


def distinct(stats: statistics_pb2.StringStatistics) -> str:
    """"300 distinct", or "~9,124 distinct" where the count is the KMV sketch's estimate (above SKETCH_SIZE)."""
    return f"{'~' if stats.unique > SKETCH_SIZE else ''}{stats.unique:,} distinct"


def statistics_table(stats: statistics_pb2.DatasetFeatureStatisticsList) -> str:
    """One line per column and split: missing share, then numbers' moments or values' distinct count and top."""
    header = ", ".join(f"{d.name} {d.num_examples:,} rows" for d in stats.datasets)
    lines = [f"Statistics ({header}; TFDV format, {STATISTICS_FILE}):",
             f"  {'column':<24} {'split':<6} {'missing':>8}  summary"]
    by_split = [{f.path.step[0]: f for f in d.features} for d in stats.datasets]
    for name in by_split[0] if by_split else []:
        for dataset, features in zip(stats.datasets, by_split):
            if name in features:
                feature = features[name]
                lines.append(f"  {name:<24} {dataset.name:<6} {missing_share(feature):>8.2%}  {_summary(feature)}")
    return "\n".join(lines)


def draw_statistics(stats: statistics_pb2.DatasetFeatureStatisticsList, top: int = 8,
                    max_panels: int = MAX_PANELS) -> bytes:
    """A PNG, one panel per column: each split's histogram (numbers) or top values' shares, missing share in the title.

    A wide table gets its first `max_panels` columns: a picture 30 panels
    tall is not read, and each panel costs matplotlib ~50 ms to lay out and
    render (100 columns took 5.5 s, a quarter of a 2,000-row job); the title
    says how many are left out, and `embedflow describe --preprocessed`
    lists every column.  Panels are placed on a fixed grid rather than by
    `tight_layout`, which measures every label of every panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    every_name = [f.path.step[0] for f in stats.datasets[0].features] if stats.datasets else []
    names = every_name[:max_panels]
    columns = min(3, max(1, len(names)))
    rows = max(1, -(-len(names) // columns))
    height = 3.6 * rows + 0.6  # inches: panels (each with its two-line title and legend row), the title above
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, height), dpi=80, squeeze=False)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.6 / height, top=1 - 1.3 / height, wspace=0.55, hspace=0.75)
    for ax in axes.flat[len(names):]:
        ax.remove()
    colours = plt.get_cmap("tab10")
    for ax, name in zip(axes.flat, names):
        missing, categories, drawn = [], None, False
        for i, dataset in enumerate(stats.datasets):
            feature = next((f for f in dataset.features if f.path.step[0] == name), None)
            if feature is None:
                continue
            missing.append(f"{dataset.name} {missing_share(feature):.1%}")
            if feature.HasField("num_stats"):
                drawn |= _draw_histogram(ax, feature.num_stats, dataset.name, colours(i))
            else:
                categories = categories or [v.value for v in feature.string_stats.top_values[:top]]
                drawn |= bool(categories)
                _draw_top_values(ax, feature.string_stats, dataset.name, colours(i), i, len(stats.datasets),
                                 categories)
        shown_name = name if len(name) <= 40 else name[:39] + "…"
        ax.set_title(f"{shown_name}\nmissing: {', '.join(missing)}", fontsize=9, pad=18)
        ax.tick_params(labelsize=7)
        if drawn:  # the legend in a row between the title and the plot: never over a bar
            ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(stats.datasets),
                      frameon=False, borderaxespad=0.1, handlelength=1.2)
        else:
            ax.text(0.5, 0.5, "no values to draw (every row missing, or one value only)", ha="center",
                    va="center", fontsize=8, color="grey", transform=ax.transAxes)
    shown = "" if len(names) == len(every_name) else f"   (first {len(names)} of {len(every_name)} columns)"
    fig.suptitle(", ".join(f"{d.name}: {d.num_examples:,} rows" for d in stats.datasets) + shown, fontsize=10,
                 y=1 - 0.25 / height)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _draw_histogram(ax, stats: statistics_pb2.NumericStatistics, label: str, colour) -> bool:
    """Whether there was a histogram to draw."""
    standard = next((h for h in stats.histograms if h.type == statistics_pb2.Histogram.STANDARD), None)
    if standard is None or not standard.buckets:
        return False
    edges = [b.low_value for b in standard.buckets] + [standard.buckets[-1].high_value]
    counts = np.array([b.sample_count for b in standard.buckets])
    ax.stairs(counts / max(counts.sum(), 1), edges, label=label, color=colour, linewidth=1.5)
    ax.set_ylabel("share of rows", fontsize=7)
    return True


def _draw_top_values(ax, stats: statistics_pb2.StringStatistics, label: str, colour, index: int, splits: int,
                     categories: list[str]) -> None:
    """Bars for the first split's top values; other splits' shares of the same values beside them."""
    frequency = {b.label: b.sample_count for b in stats.rank_histogram.buckets}
    total = max(stats.common_stats.num_non_missing, 1)
    height = 0.8 / splits
    positions = np.arange(len(categories)) + index * height
    ax.barh(positions, [frequency.get(v, 0.0) / total for v in categories], height=height, color=colour,
            label=f"{label} ({distinct(stats)})")
    if index == 0:
        ax.set_yticks(positions + 0.4 - height / 2, [v[:18] for v in categories])
        ax.invert_yaxis()
    ax.set_xlabel("share of rows (top values)", fontsize=7)
