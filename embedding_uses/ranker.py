"""The ranking score of a model version's items for a user, and one user's top unrated items by it.

score = model score + rating weight x predicted rating (before clipping) + popularity term: the scan's
order (embedding_uses/ranking_score.py) plus the user's constant terms, so it sorts the list and means the same for
every user.  `recommend`, `recommend-all` and the API report this one score.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from embedding_uses.embedding_files import EmbeddingFiles
from embedding_uses.ranking_score import RankingWeights
from embedding_uses.topk import TopKScorer


@dataclasses.dataclass(frozen=True)
class ScoredItems:
    """Items (positions in the index), their ranking score and its parts: arrays of one shape, (users, k) or (k,)
    for one user's list (`scored(...)[0]`), best first."""

    items: np.ndarray
    score: np.ndarray
    model: np.ndarray
    rating: np.ndarray  # predicted rating, clipped to the train ratings' range
    popularity: np.ndarray

    def __getitem__(self, row: int) -> "ScoredItems":
        return ScoredItems(*(getattr(self, f.name)[row] for f in dataclasses.fields(self)))

    def __len__(self) -> int:
        return len(self.items)


class Ranker:
    """Scores and ranks the items of one model version's files for users given by their vectors."""

    def __init__(self, files: EmbeddingFiles):
        self.files = files
        self.item_scores = files.item_scores()

    def scorer(self, k: int, weights: RankingWeights) -> TopKScorer:
        return self.item_scores.scorer(weights, k)

    def scored(self, vectors: np.ndarray, user_bias: np.ndarray, items: np.ndarray,
               weights: RankingWeights) -> ScoredItems:
        """The ranking score of items[u, j] for the user with vectors[u] and user_bias[u] (0 for a new user), and
        its parts; `rating` is the predicted rating clipped to the train ratings' range (serving's)."""
        files = self.files
        raw = (np.einsum("ukd,ud->uk", files.rating_items[items], vectors) + files.item_bias[items]
               + np.asarray(user_bias)[:, None] + files.global_mean)
        model = self.item_scores.model_scores(vectors, items)
        popularity = self.item_scores.popularity_terms(items, weights)
        return ScoredItems(items, model + weights.rating * raw + popularity, model, np.clip(raw, *files.label_range),
                           popularity)

    @staticmethod
    def top_unrated(user_vector: np.ndarray, rated_indptr: np.ndarray, rated: np.ndarray,
                    scorer: TopKScorer) -> np.ndarray:
        """One user's top items by ranking score, best first, their rated items left out (short when few remain)."""
        top, scores = scorer.top_k(user_vector, rated_indptr, rated)
        return top[0][np.isfinite(scores[0])]
