"""What a model that learns user and item ids hands to its uses: tower vectors, biases, and who rated what.

Computed once after training (trainer/embeddings.py, trainer/evaluate.py),
written into the version folder's `embeddings/`, and read back by similar
items, recommendations, the projector and the map.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from embedding_uses.ranking_score import ItemScores


@dataclasses.dataclass(frozen=True)
class TowerVectors:
    """Tower outputs for every known item and user, with their ids/attributes and the model's biases.

    `items` are the retrieval head's item vectors (ranking, neighbours,
    pictures); `rating_items` the rating head's (predicted ratings).
    """

    items: np.ndarray
    item_meta: dict[str, list[str]]  # id column first, then side-table attributes (title, genres)
    users: np.ndarray
    user_meta: dict[str, list[str]]
    item_bias: np.ndarray
    user_bias: np.ndarray
    global_mean: float
    ranking_bias: np.ndarray  # per-item term of the ranking score: the pick bias (retrieval), else item_bias
    rating_items: np.ndarray  # the rating head's item vectors: rating = <user, this> + both biases + global_mean
    ranking_scale: float = 1.0  # the model score is ranking_scale * <user, item> + ranking_bias
    label_range: tuple[float, float] = (-np.inf, np.inf)  # predicted ratings are clipped to it

    def item_scores(self, item_count: np.ndarray) -> ItemScores:
        """The per-item parts of the ranking score (embedding_uses/ranking_score.py), with each item's train ratings."""
        return ItemScores(self.items, self.ranking_scale, self.ranking_bias, self.rating_items, self.item_bias,
                          item_count)


@dataclasses.dataclass(frozen=True)
class Interactions:
    """Who rated what in either split (CSR over user x item ids), and how many train users rated each item."""

    rated_indptr: np.ndarray
    rated_indices: np.ndarray
    item_count: np.ndarray
