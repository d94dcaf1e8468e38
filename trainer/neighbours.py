"""Cosine nearest neighbours over embedding vectors, in vectorised blocks."""

from __future__ import annotations

import numpy as np


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def cosine_top_k(vectors: np.ndarray, k: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the indices and cosine scores of its k nearest other rows, best first."""
    unit = normalize(vectors.astype(np.float32))
    k = min(k, len(unit) - 1)
    indices = np.empty((len(unit), k), np.int64)
    scores = np.empty((len(unit), k), np.float32)
    for start in range(0, len(unit), block):
        sim = unit[start:start + block] @ unit.T
        rows = np.arange(sim.shape[0])
        sim[rows, rows + start] = -np.inf  # not its own neighbour
        part = np.argpartition(-sim, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, part, axis=1), axis=1, kind="stable")
        indices[start:start + block] = np.take_along_axis(part, order, axis=1)
        scores[start:start + block] = np.take_along_axis(sim, indices[start:start + block], axis=1)
    return indices, scores


def neighbour_label_share(vectors: np.ndarray, labels: np.ndarray, k: int = 10) -> tuple[float, float]:
    """Share of each row's k nearest neighbours carrying its label, and that share by chance."""
    labels = np.asarray(labels)
    top, _ = cosine_top_k(vectors, k)
    share = float((labels[top] == labels[:, None]).mean())
    chance = float(sum((labels == g).mean() ** 2 for g in np.unique(labels)))
    return share, chance
