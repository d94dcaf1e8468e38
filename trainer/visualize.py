"""Pictures of the embedding space: TensorBoard projector files and a 2-D map PNG.

`embedflow projector` writes a folder that `tensorboard --logdir` opens in
its Projector tab; `embedflow map` draws the item vectors in two
dimensions, coloured by main genre, with a few popular titles labelled.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins.projector import projector_config_pb2

from trainer.recommend import EmbeddingIndex

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


def plot_item_map(ax, items: np.ndarray, item_meta: dict[str, list[str]], item_count: np.ndarray, labels: int = 10,
                  max_points: int = 20_000) -> None:
    """Item vectors in 2-D (PCA) on `ax`, coloured by main genre, the most popular titles labelled.

    `items`: the similarity vectors (trainer/neighbours.py), the ones `similar` compares.
    """
    import matplotlib.pyplot as plt

    rows = _most_active(item_count, max_points)
    xy = pca_2d(items[rows])
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
    titles = item_meta.get("title", ids)
    for j in np.argsort(-item_count[rows], kind="stable")[:labels]:
        ax.annotate(titles[rows[j]][:40], xy[j], fontsize=8, xytext=(4, 4), textcoords="offset points",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8, "lw": 0})
    ax.set_title(f"Item embeddings, PCA to 2-D ({len(rows):,} items, coloured by main genre)")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.legend(loc="best", fontsize=8, markerscale=2, title="main genre")


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


def draw_map(index: EmbeddingIndex, png_path: str, labels: int = 10, max_points: int = 20_000) -> str:
    """Item vectors in 2-D (PCA), coloured by main genre, the most popular titles labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 8), dpi=110)
    plot_item_map(ax, index.similarity_vectors, index.item_meta, index.item_count, labels, max_points)
    fig.tight_layout()
    return save_png(fig, png_path)
