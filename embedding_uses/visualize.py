"""Pictures of the embedding space: TensorBoard projector files and a 2-D map PNG.

`embedflow projector` writes a folder that `tensorboard --logdir` opens in
its Projector tab; `embedflow map` draws the item vectors in two
dimensions, coloured by main genre, with a few popular titles labelled.

Two ways down to two dimensions (MAP_METHODS): PCA keeps the directions of
largest spread, so on real ratings, where popularity and a few broad tastes
carry most of the spread, genres overlap in one cloud; t-SNE (openTSNE, the
`maps` extra) keeps each item's nearest neighbours by cosine, the measure
`similar` ranks by, so groups of items rated by the same people come apart.
t-SNE's axes have no meaning of their own, and it is seeded, so the same
model and seed give the same picture.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
from typing import Callable

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins.projector import projector_config_pb2

from stage_contracts.errors import UserError
from embedding_uses.neighbours import normalize
from embedding_uses.recommend import EmbeddingIndex

log = logging.getLogger(__name__)
PROJECTOR_CONFIG = "projector_config.pbtxt"


def _most_active(counts: np.ndarray, limit: int) -> np.ndarray:
    """Rows to show: all if they fit, else the `limit` with the most ratings (in their original order)."""
    if len(counts) <= limit:
        return np.arange(len(counts))
    return np.sort(np.argsort(-counts, kind="stable")[:limit])


def write_projector(index: EmbeddingIndex, out_dir: str, max_points: int = 20_000) -> str:
    """tensors.tsv + metadata.tsv per table and projector_config.pbtxt; returns the config path.

    Metadata with more than one column gets a header row, as the projector
    expects; a single column has none.
    """
    user_counts = np.diff(index.rated_indptr).astype(np.float64)
    tables = {
        "items": (index.similarity_vectors, index.item_meta, _most_active(index.item_count, max_points)),
        "users": (index.users, {"userId": index.user_ids}, _most_active(user_counts, max_points)),
    }
    config = projector_config_pb2.ProjectorConfig()
    for name, (vectors, meta, rows) in tables.items():
        folder = os.path.join(out_dir, name)
        tf.io.gfile.makedirs(folder)
        buf = io.StringIO()
        np.savetxt(buf, vectors[rows], delimiter="\t", fmt="%.6g")
        with tf.io.gfile.GFile(os.path.join(folder, "tensors.tsv"), "w") as f:
            f.write(buf.getvalue())
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        if len(meta) > 1:
            writer.writerow(list(meta))
        for row in rows:
            writer.writerow([values[row] for values in meta.values()])
        with tf.io.gfile.GFile(os.path.join(folder, "metadata.tsv"), "w") as f:
            f.write(buf.getvalue())
        embedding = config.embeddings.add()
        embedding.tensor_name = name
        embedding.tensor_path = f"{name}/tensors.tsv"
        embedding.metadata_path = f"{name}/metadata.tsv"
    path = os.path.join(out_dir, PROJECTOR_CONFIG)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text_format.MessageToString(config))
    return path


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def tsne_2d(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE by cosine distance (openTSNE), started from PCA and seeded; one thread, so the same seed gives the
    same coordinates on any machine's core count."""
    try:
        from openTSNE import TSNE
    except ImportError:
        raise UserError("The t-SNE map needs openTSNE: pip install 'embedflow[maps]'") from None
    perplexity = min(30.0, (len(vectors) - 1) / 3)  # openTSNE needs at least 3 neighbours per perplexity unit
    embedding = TSNE(n_components=2, perplexity=perplexity, metric="cosine", initialization="pca",
                     random_state=seed, n_jobs=1, verbose=False).fit(np.asarray(vectors, dtype=np.float64))
    return np.asarray(embedding)


KEPT_NEIGHBOURS = 10


def neighbours_kept(vectors: np.ndarray, xy: np.ndarray, k: int = KEPT_NEIGHBOURS) -> float:
    """How faithful a map is: the share of each item's k nearest neighbours by cosine (the vectors') that are also
    among its k nearest dots on the map (`xy`).  1 is a map that keeps every neighbourhood; chance is k / n.
    A catalogue of k items or fewer counts each item's n - 1 others (all of them: 1)."""
    k = min(k, len(vectors) - 1)
    if k < 1:
        return 1.0
    unit = normalize(vectors)
    squares = (xy ** 2).sum(axis=1)
    found = 0
    for start in range(0, len(vectors), 1024):
        block = slice(start, start + 1024)
        own = np.arange(start, min(start + 1024, len(vectors)))
        near = unit[block] @ unit.T
        near[np.arange(len(own)), own] = -np.inf
        far = squares[block, None] + squares[None, :] - 2 * xy[block] @ xy.T
        far[np.arange(len(own)), own] = np.inf
        by_vectors = np.argpartition(-near, k - 1, axis=1)[:, :k]
        on_map = np.argpartition(far, k - 1, axis=1)[:, :k]
        found += sum(len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(by_vectors, on_map))
    return found / (k * len(vectors))


@dataclasses.dataclass(frozen=True)
class MapMethod:
    """One way down to two dimensions: its name in titles and on the axes, and the projection."""

    title: str
    axes: tuple[str, str]
    project: Callable[[np.ndarray, int], np.ndarray]  # (vectors, seed) -> (n, 2)


MAP_METHODS = {
    "pca": MapMethod("PCA", ("first principal component", "second principal component"), lambda v, _: pca_2d(v)),
    "tsne": MapMethod("t-SNE (cosine)", ("t-SNE 1 (no units)", "t-SNE 2 (no units)"), tsne_2d),
}


def plot_item_map(ax, items: np.ndarray, item_meta: dict[str, list[str]], item_count: np.ndarray, labels: int = 10,
                  max_points: int = 20_000, method: str = "pca", seed: int = 0) -> Callable[[], list]:
    """Item vectors in 2-D (`method`: a MAP_METHODS key) on `ax`, coloured by main genre; returns the step that
    labels the most popular titles, to call once the figure's layout is final (labels are placed where they will be
    drawn).

    `items`: the similarity vectors (embedding_uses/neighbours.py), the ones `similar` compares.
    """
    import matplotlib.pyplot as plt

    rows = _most_active(item_count, max_points)
    way = MAP_METHODS[method]
    xy = way.project(items[rows], seed)
    kept = neighbours_kept(items[rows], xy)
    log.info("Item map by %s: %.0f%% of each item's %d nearest neighbours (cosine) are among its %d nearest dots",
             way.title, 100 * kept, KEPT_NEIGHBOURS, KEPT_NEIGHBOURS)
    ids = next(iter(item_meta.values()))
    genres = item_meta.get("genres", ["?"] * len(ids))
    main = np.array([(genres[r].split("|")[0] or "?") for r in rows])
    names, counts = np.unique(main, return_counts=True)
    shown = [n for _, n in sorted(zip(-counts, names))][:10]
    colours = plt.get_cmap("tab10")
    for i, name in enumerate(shown):
        mask = main == name
        ax.scatter(xy[mask, 0], xy[mask, 1], s=9, alpha=0.7, color=colours(i), label=name)
    other = ~np.isin(main, shown)
    if other.any():
        ax.scatter(xy[other, 0], xy[other, 1], s=6, alpha=0.4, color="lightgrey", label="other")
    seeded = f", seed {seed}" if method != "pca" else ""
    ax.set_title(f"Item embeddings, {way.title} to 2-D{seeded}\n({len(rows):,} items, coloured by main genre; "
                 f"{100 * kept:.0f}% of {KEPT_NEIGHBOURS} nearest neighbours kept)")
    ax.set_xlabel(way.axes[0])
    ax.set_ylabel(way.axes[1])
    ax.legend(loc="best", fontsize=8, markerscale=2, title="main genre")
    titles = item_meta.get("title", ids)
    popular = np.argsort(-item_count[rows], kind="stable")[:labels]
    return lambda: place_labels(ax, xy[popular], [titles[rows[j]][:40] for j in popular])


LABEL_OFFSETS = [(round(r * np.cos(a)), round(r * np.sin(a))) for r in (6, 20, 40, 65, 95, 130)
                 for a in np.linspace(np.pi / 4, 9 * np.pi / 4, 12, endpoint=False)]  # points from the dot


def place_labels(ax, points: np.ndarray, texts: list[str]) -> list:
    """Label `points` (data coordinates) in order, each at the first offset (nearest first, LABEL_OFFSETS) where
    its box overlaps no box already placed (nor the legend) and stays inside the axes, with a line to its dot
    when moved far; a label with no free place is left out.  Greedy, so no extra dependency (adjustText) and
    the same picture every time.  Call it once the figure's layout is final.  Returns the placed annotations."""
    from matplotlib.text import Text

    figure = ax.figure
    figure.canvas.draw()  # the final limits and a renderer, so boxes are measured where they will be drawn
    renderer = figure.canvas.get_renderer()
    legend = ax.get_legend()
    inside, placed = ax.get_window_extent(renderer), []
    taken = [legend.get_window_extent(renderer)] if legend is not None else []
    for point, text in zip(points, texts):
        for dx, dy in LABEL_OFFSETS:
            far = abs(dx) > 8 or abs(dy) > 8
            label = ax.annotate(text, point, fontsize=8, xytext=(dx, dy), textcoords="offset points",
                                ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top",
                                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8, "lw": 0},
                                arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.6} if far else None,
                                in_layout=False)
            label.update_positions(renderer)
            box = Text.get_window_extent(label, renderer)  # the text's box, not its leader line
            if (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0 and box.y1 <= inside.y1
                    and not any(box.overlaps(other) for other in taken)):
                taken.append(box)
                placed.append(label)
                break
            label.remove()
    return placed


def save_png(fig, png_path: str) -> str:
    """Write a matplotlib figure as PNG (local or gs://) and close it."""
    import matplotlib.pyplot as plt

    tf.io.gfile.makedirs(os.path.dirname(os.path.abspath(png_path)))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    with tf.io.gfile.GFile(png_path, "wb") as f:
        f.write(buf.getvalue())
    return png_path


def draw_map(index: EmbeddingIndex, png_path: str, labels: int = 10, max_points: int = 20_000,
             methods: tuple[str, ...] = ("pca",), seed: int = 0) -> str:
    """Item vectors in 2-D, one panel per method side by side (MAP_METHODS keys), coloured by main genre, the most
    popular titles labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(methods), figsize=(11 * len(methods), 8), dpi=110, layout="constrained",
                             squeeze=False)
    finishing = [plot_item_map(ax, index.similarity_vectors, index.item_meta, index.item_count, labels, max_points,
                               method, seed) for ax, method in zip(axes[0], methods)]
    for finish in finishing:  # once every panel is drawn: the layout is final
        finish()
    return save_png(fig, png_path)
