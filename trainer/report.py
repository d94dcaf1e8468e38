"""A picture of one training run: `report.png` in its model version folder.

Up to four panels, from what training already has in memory: the learning
curves (Keras History, with the epoch whose weights were kept: metrics.json's
`best_epoch`, chosen on `selection_metric`); the eval metrics against the
baselines of metrics.json; the ranking metrics against popularity (models
that rank); and a map of what was learnt: the item vectors (PCA, as
`embedflow map`), or, for a model with a hashed cross of two bucketized
numeric columns (the housing spec's latitude x longitude), the cross's
embedding over the area the columns cover, each grid cell coloured by its
embedding's first three principal components as RGB: cells that look alike
learnt alike.  A panel with nothing to show is left out, not drawn empty.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import tensorflow_transform as tft
from tensorflow_metadata.proto.v0 import statistics_pb2

from features.graph import raw_columns
from features.spec import FeatureSpec
from stage_contracts.statistics import load_statistics
from features.transforms import HashedCross
from trainer.catalogue import transform_rows
from embedding_uses.neighbours import similarity_vectors
from embedding_uses.vectors import TowerVectors
from embedding_uses.visualize import plot_item_map, save_png

REPORT_FILE = "report.png"
GRID_CELLS = 120  # cells per side of the cross map's grid
BASELINES = ("model", "baseline_bias", "baseline_mean")


def write_report(folder: str, metrics: dict, spec: FeatureSpec, tables: dict[str, np.ndarray],
                 tft_output: tft.TFTransformOutput, preprocess_dir: str, vectors: TowerVectors | None = None,
                 item_count: np.ndarray | None = None) -> str:
    """Draw the run's report into `folder`/report.png; returns its path.

    `tables` are the model's embedding tables by feature; `vectors` and
    `item_count` the tower vectors of a model that learns item vectors.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(metrics, spec, tables, tft_output, preprocess_dir, vectors, item_count)
    columns = 3 if len(panels) == 3 else 2  # whole rows: no empty panel
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 5.5 * rows), dpi=80, layout="constrained",
                             squeeze=False)
    finishing = [draw(ax) for draw, ax in zip(panels.values(), axes.flat)]
    fig.suptitle(f"{spec.name}: {spec.model.type} model, {metrics['epochs_trained']} epochs "
                 f"(kept epoch {metrics['best_epoch']}), {metrics['train_examples']:,} train examples, "
                 f"{metrics['train_seconds']:.0f} s", fontsize=12)
    for finish in filter(callable, finishing):  # steps that need the final layout (the item map's labels)
        finish()
    return save_png(fig, os.path.join(folder, REPORT_FILE))


NOT_CURVES = {"epoch_seconds", "lr", "learning_rate"}  # per-epoch history entries that are not model metrics


def _panels(metrics: dict, spec: FeatureSpec, tables: dict[str, np.ndarray], tft_output: tft.TFTransformOutput,
            preprocess_dir: str, vectors: TowerVectors | None,
            item_count: np.ndarray | None) -> dict[str, Callable[[Any], None]]:
    """The report's panels that have something to show, by name, each a function drawing on an axes (and
    returning a step to run once every panel is drawn, or None)."""
    panels = {"learning curves": lambda ax: _learning_curves(ax, metrics),
              "against baselines": lambda ax: _against_baselines(ax, metrics)}
    if metrics.get("ranking"):
        panels["ranking"] = lambda ax: _ranking(ax, metrics["ranking"])
    cross = _mappable_cross(spec, tables)
    if vectors is not None and item_count is not None:
        panels["item map"] = lambda ax: plot_item_map(ax, similarity_vectors(vectors.items), vectors.item_meta,
                                                      item_count, labels=8, max_points=5_000)
    elif cross is not None:
        stats = load_statistics(preprocess_dir)
        if stats is not None:  # written with --no-statistics: no column ranges to lay the grid on
            panels["cross map"] = lambda ax: _cross_map(ax, spec, cross, tables[cross.name], tft_output, stats)
    return panels


def _learning_curves(ax, metrics: dict) -> None:
    """Loss (left axis) and every other training figure (right axis) with its eval twin (val_*) per epoch, and
    the epoch whose weights were kept: metrics.json's `best_epoch`, the best `selection_metric` (a two-tower
    model's recall on the validation slice, else the validation loss), drawn too when it has no training twin."""
    from matplotlib.ticker import MaxNLocator

    history = metrics["history"]
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    names = [k for k in history if not k.startswith("val_") and k not in NOT_CURVES]
    alone = [k for k in history if k.startswith("val_") and k[4:] not in history and k[4:] not in NOT_CURVES]
    other_ax = ax.twinx() if len(names) + len(alone) > 1 else None
    lines = []
    for i, name in enumerate(names + alone):
        target = ax if name == "loss" or other_ax is None else other_ax
        if name in alone:
            lines += target.plot(epochs, history[name], color=f"C{i}", linestyle="--", label=f"validation {name[4:]}")
            continue
        lines += target.plot(epochs, history[name], color=f"C{i}", label=f"train {name}")
        if f"val_{name}" in history:
            lines += target.plot(epochs, history[f"val_{name}"], color=f"C{i}", linestyle="--",
                                 label=f"validation {name}")
    best, chosen_on = metrics.get("best_epoch"), metrics.get("selection_metric", "val_loss")
    if best:
        lines.append(ax.axvline(best, color="grey", linestyle=":",
                                label=f"kept: epoch {best} (best {chosen_on.removeprefix('val_')})"))
    ax.set_title("Learning curves")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8)


def _grouped_bars(ax, rows: dict[str, dict[str, float]], title: str) -> None:
    """One group of bars per metric, one bar per row (model, baselines), values printed on the bars."""
    metric_names = list(next(iter(rows.values())))
    width = 0.8 / len(rows)
    for i, (row, values) in enumerate(rows.items()):
        positions = np.arange(len(metric_names)) + i * width
        bars = ax.bar(positions, [values.get(m, np.nan) for m in metric_names], width=width, label=row)
        ax.bar_label(bars, fmt="%.4f", fontsize=7)
    ax.set_xticks(np.arange(len(metric_names)) + 0.4 - width / 2, metric_names)
    ax.set_title(title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.2)  # headroom: the legend's row above the tallest bar, not over it
    ax.legend(fontsize=8, loc="upper center", ncols=len(rows), frameon=False)


def _against_baselines(ax, metrics: dict) -> None:
    rows = {name: metrics[name] for name in BASELINES if name in metrics}
    _grouped_bars(ax, rows, f"Eval metrics ({metrics.get('eval_examples', 0):,} examples) against baselines")


def _ranking(ax, ranking: dict) -> None:
    rows = {name: ranking[name] for name in ("model", "model_rating_only", "popularity") if name in ranking}
    _grouped_bars(ax, rows, f"Ranking on held-out ratings >= {ranking['positive_rating']} ({ranking['users']:,} "
                            f"users)\nweights: rating {ranking['weights']['rating_weight']:g}, popularity "
                            f"{ranking['weights']['popularity_weight']:g}")


def _mappable_cross(spec: FeatureSpec, tables: dict[str, np.ndarray]) -> HashedCross | None:
    """The first hashed cross the model has a table for, of two features that bucketize numeric raw columns."""
    raw = {c.name for c in raw_columns(spec) if c.is_numeric}
    for feature in spec.features:
        if isinstance(feature, HashedCross) and len(feature.cross) == 2 and feature.name in tables:
            parts = [spec.feature(name) for name in feature.cross]
            if all(p.needs_numeric_source and p.source in raw for p in parts):
                return feature
    return None


def _cross_map(ax, spec: FeatureSpec, cross: HashedCross, table: np.ndarray, tft_output: tft.TFTransformOutput,
               stats: statistics_pb2.DatasetFeatureStatisticsList) -> None:
    """The cross's embedding over a grid spanning its two columns' train range (from the statistics), in RGB."""
    y_column, x_column = (spec.feature(name).source for name in cross.cross)
    ranges = {f.path.step[0]: (f.num_stats.min, f.num_stats.max) for f in stats.datasets[0].features
              if f.HasField("num_stats")}
    (y0, y1), (x0, x1) = ranges[y_column], ranges[x_column]
    ys, xs = np.meshgrid(np.linspace(y0, y1, GRID_CELLS), np.linspace(x0, x1, GRID_CELLS), indexing="ij")
    dtypes = {c.name: np.float32 if c.type == "float" else np.int64 for c in raw_columns(spec)}
    grid = {y_column: ys.ravel().astype(dtypes[y_column]), x_column: xs.ravel().astype(dtypes[x_column])}
    ids = transform_rows(tft_output, spec, grid)[cross.name].numpy().reshape(-1)
    ax.imshow(_pca_rgb(table[ids]).reshape(GRID_CELLS, GRID_CELLS, 3), origin="lower", extent=(x0, x1, y0, y1),
              aspect="auto", interpolation="nearest")
    ax.set_xlabel(x_column)
    ax.set_ylabel(y_column)
    ax.set_title(f"'{cross.name}' embedding ({' x '.join(cross.cross)}, {cross.hash_buckets} hash buckets):\n"
                 f"each cell's vector, first 3 principal components as RGB", fontsize=10)


def _pca_rgb(vectors: np.ndarray) -> np.ndarray:
    """Rows' first three principal components, each scaled to [0, 1] (fewer dimensions repeat the last)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = centred @ vt[:3].T
    components = np.concatenate([components] + [components[:, -1:]] * (3 - components.shape[1]), axis=1)
    low, high = components.min(axis=0), components.max(axis=0)
    return (components - low) / np.where(high > low, high - low, 1.0)
