"""The score recommendations are ranked by, and the two weights chosen when a model is trained.

    score(user, item) = model score                     ranking_scale * user . item + pick_bias   (what a user picks)
                      + rating_weight * predicted rating   user . rating_item + item_bias + ...
                      + popularity_weight * log(1 + train ratings of the item)

The model score (the retrieval objective's logit, trainer/retrieval.py) says
how likely a user is to pick an item; what a recommendation should find is
an item the user picks *and* rates highly (the protocol's relevant items are
held-out ratings >= 4), so the predicted rating joins it with its own
weight.  The popularity prior corrects a model that underrates how much
everyone picks the most rated items.  Both weights are chosen on the
validation slice when the model is trained (the grid below, best recall@10;
the eval split only reports), written to `embeddings/scoring.json`, and can be overridden per
request (`--rating-weight`, `--popularity-weight`).

Every term is a dot product with the user's vector plus a per-item number
(the predicted rating's user bias and the global mean are the same for
every item of a user, so they do not change the order and are left out of
the scan), so any weights still rank with one exact top-K scan
(embedding_uses/topk.py).  For a model without a retrieval objective the model
score is the predicted rating itself.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from embedding_uses.topk import TopKScorer

POPULARITY_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
RATING_WEIGHTS = (0.0, 0.5, 1.0, 2.0)


@dataclasses.dataclass(frozen=True)
class RankingWeights:
    """How much the predicted rating and the popularity prior add to the model score."""

    popularity: float = 0.0
    rating: float = 0.0

    @classmethod
    def grid(cls) -> list["RankingWeights"]:
        """The weights evaluation tries; the first best one wins, so smaller weights win ties."""
        return [cls(p, r) for r, p in itertools.product(RATING_WEIGHTS, POPULARITY_WEIGHTS)]

    def with_overrides(self, popularity: float | None = None, rating: float | None = None) -> "RankingWeights":
        """These weights with the ones a request gives (None keeps the chosen one)."""
        return RankingWeights(self.popularity if popularity is None else popularity,
                              self.rating if rating is None else rating)

    @property
    def label(self) -> str:
        return f"rating {self.rating:g}, popularity {self.popularity:g}"

    def to_dict(self) -> dict[str, float]:
        return {"rating_weight": self.rating, "popularity_weight": self.popularity}


@dataclasses.dataclass(frozen=True)
class ItemScores:
    """Per-item parts of the ranking score, from which a scorer for any weights is built."""

    vectors: np.ndarray  # (items, dim) the retrieval head's item vectors
    ranking_scale: float  # the model score is ranking_scale * user . item + pick_bias
    pick_bias: np.ndarray
    rating_vectors: np.ndarray  # the rating head's: the predicted rating is user . this + item_bias + (user's constants)
    rating_bias: np.ndarray
    count: np.ndarray  # train ratings of each item

    def scorer(self, weights: RankingWeights, k: int) -> TopKScorer:
        """Exact top-k by the weighted score (user-constant terms left out)."""
        items = self.ranking_scale * self.vectors + weights.rating * self.rating_vectors
        bias = self.pick_bias + weights.rating * self.rating_bias + weights.popularity * np.log1p(self.count)
        return TopKScorer(items.astype(np.float32), bias.astype(np.float32), k)

    def model_scores(self, user_vectors: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The model score of items[u, j] for user_vectors[u]."""
        return self.ranking_scale * np.einsum("ukd,ud->uk", self.vectors[items], user_vectors) + self.pick_bias[items]

    def popularity_terms(self, items: np.ndarray, weights: RankingWeights) -> np.ndarray:
        return weights.popularity * np.log1p(self.count[items])

    def rating_only_scorer(self, k: int) -> TopKScorer:
        """Top-k by predicted rating alone (a rating model's own order; reported beside the model's ranking)."""
        return TopKScorer(self.rating_vectors.astype(np.float32), self.rating_bias.astype(np.float32), k)

    def popularity_scorer(self, k: int) -> TopKScorer:
        """Top-k by train ratings alone: the most-popular list."""
        return TopKScorer(np.zeros((len(self.count), 1), np.float32), np.log1p(self.count).astype(np.float32), k)
