"""Reference recommenders a model's top-K lists must beat: most popular, and EASE.

EASE (Steck 2019, "Embarrassingly Shallow Autoencoders") is a closed-form
item-item model: B = I - P / diag(P) with P = (X^T X + lambda I)^-1 for the
binary user x item matrix X; a user's scores are their row of X times B.  It
is among the strongest top-K baselines on MovieLens and costs one dense
inverse of an items x items matrix, so it suits catalogues up to ~20K items.
Numpy only: no Beam, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from embedding_uses.rated import csr_from_pairs, csr_rows, distinct_sorted
from trainer.metrics import ranking_metrics

EASE_MAX_ITEMS = 20_000   # a float32 items x items matrix of this size is 1.6 GB, and the inverse needs two
EASE_L2_GRID = (150.0, 400.0, 1000.0, 2500.0)
POSITIVE_RATING = 4.0  # held-out ratings at or above this are what a top-K list should find


@dataclasses.dataclass(frozen=True)
class RatingArrays:
    """Ratings as parallel arrays of 0-based user and item indices."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    n_users: int
    n_items: int

    def subset(self, mask: np.ndarray) -> "RatingArrays":
        return RatingArrays(self.users[mask], self.items[mask], self.ratings[mask], self.n_users, self.n_items)

    def known(self) -> "RatingArrays":
        """Only ratings of users and items inside the sizes (a model's out-of-vocabulary rows are past them)."""
        return self.subset((self.users < self.n_users) & (self.items < self.n_items))

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        return csr_from_pairs(self.users, self.items, self.n_users, self.n_items)


def holdout_split(n: int, fraction: float, seed: int) -> np.ndarray:
    """A seeded random mask choosing `fraction` of n ratings."""
    return np.random.default_rng(seed).random(n) < fraction


def popularity_counts(train: RatingArrays) -> np.ndarray:
    """Ratings per item: the most-popular list ranks by this."""
    return np.bincount(train.items, minlength=train.n_items).astype(np.float32)


def gram(train: RatingArrays, block: int = 2048) -> np.ndarray:
    """X^T X of the binary user x item matrix, in float32, built from dense blocks of users."""
    indptr, indices = train.csr()
    result = np.zeros((train.n_items, train.n_items), np.float32)
    for start in range(0, train.n_users, block):
        rows = _dense_rows(indptr, indices, np.arange(start, min(start + block, train.n_users)), train.n_items)
        result += rows.T @ rows
    return result


def ease_weights(gram_matrix: np.ndarray, l2: float) -> np.ndarray:
    """EASE's item x item weights B (diagonal zero) for regularisation `l2`."""
    if len(gram_matrix) > EASE_MAX_ITEMS:
        raise ValueError(f"EASE needs a dense {len(gram_matrix)} x {len(gram_matrix)} inverse; "
                         f"catalogues up to {EASE_MAX_ITEMS:,} items are supported")
    p = gram_matrix.copy()
    p[np.diag_indices_from(p)] += l2
    p = np.linalg.inv(p)
    weights = p / -np.diag(p)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def top_k_unrated(scores: Callable[[np.ndarray], np.ndarray], train: RatingArrays, users: np.ndarray,
                  k: int = 10, block: int = 1024) -> np.ndarray:
    """(len(users), k) item indices by descending score, items the user rated in `train` left out.

    `scores(user_block)` returns a (len(user_block), n_items) float array.
    """
    from embedding_uses.topk import top_k_of_scores  # TensorFlow loads with it: this module stays numpy-only to import

    indptr, indices = train.csr()
    top = np.empty((len(users), k), np.int64)
    for start in range(0, len(users), block):
        chunk = users[start:start + block]
        s = np.array(scores(chunk), np.float32)
        rated_indptr, rated = csr_rows(indptr, indices, chunk)
        s[np.repeat(np.arange(len(chunk)), np.diff(rated_indptr)), rated] = -np.inf
        top[start:start + len(chunk)] = top_k_of_scores(s, k)
    return top


def popularity_scorer(train: RatingArrays) -> Callable[[np.ndarray], np.ndarray]:
    counts = popularity_counts(train)
    return lambda users: np.broadcast_to(counts, (len(users), len(counts)))


def ease_scorer(train: RatingArrays, weights: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    indptr, indices = train.csr()
    return lambda users: _dense_rows(indptr, indices, users, train.n_items) @ weights


def evaluate_top_k(top: np.ndarray, users: np.ndarray, test: RatingArrays, k: int = 10) -> dict[str, float]:
    """recall@k and NDCG@k of `top` (rows for `users`) against `test` ratings >= POSITIVE_RATING."""
    positive = test.ratings >= POSITIVE_RATING
    indptr, indices = csr_from_pairs(test.users[positive], test.items[positive], test.n_users, test.n_items)
    return ranking_metrics(top, indptr, indices, users, k)


def capped_recall(top: np.ndarray, users: np.ndarray, test: RatingArrays, k: int = 10) -> float:
    """Mean of hits / min(k, relevant): recall that a perfect list reaches even for users with more than k.

    Many published MovieLens figures use this form (EASE's paper among them);
    `evaluate_top_k`'s recall divides by all relevant items, as metrics.json does.
    """
    positive = test.ratings >= POSITIVE_RATING
    indptr, indices = csr_from_pairs(test.users[positive], test.items[positive], test.n_users, test.n_items)
    sub_indptr, relevant = csr_rows(indptr, indices, users)
    counts = np.diff(sub_indptr)
    owner = np.repeat(np.arange(len(users)), counts)
    hits = np.zeros(len(users))
    found = (top[owner] == relevant[:, None]).any(axis=1)
    np.add.at(hits, owner[found], 1.0)
    return float(np.mean(hits / np.minimum(k, counts)))


def users_to_score(test: RatingArrays) -> np.ndarray:
    """Users with at least one held-out positive rating: the users a ranking is scored on."""
    return distinct_sorted(test.users[test.ratings >= POSITIVE_RATING])


def choose_ease_l2(train: RatingArrays, grid: tuple[float, ...] = EASE_L2_GRID, fraction: float = 0.2,
                   seed: int = 0, k: int = 10) -> tuple[float, dict[float, float]]:
    """The l2 of `grid` with the best recall@k on a validation slice of `train` (recall by l2 too)."""
    held = holdout_split(len(train.users), fraction, seed)
    fit, validation = train.subset(~held), train.subset(held)
    users = users_to_score(validation)
    g = gram(fit)
    recall = {}
    for l2 in grid:
        top = top_k_unrated(ease_scorer(fit, ease_weights(g, l2)), fit, users, k)
        recall[l2] = evaluate_top_k(top, users, validation, k)[f"recall@{k}"]
    return max(recall, key=recall.get), recall


def _dense_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, n_cols: int) -> np.ndarray:
    """The given CSR rows as a dense 0/1 float32 matrix."""
    dense = np.zeros((len(rows), n_cols), np.float32)
    row_indptr, cols = csr_rows(indptr, indices, rows)
    dense[np.repeat(np.arange(len(rows)), np.diff(row_indptr)), cols] = 1.0
    return dense


class CoRating:
    """Co-rating lift of item neighbours, judged on ratings the neighbours were not drawn from (a held-out part,
    or another day).

    For a query item q and a neighbour n: of the users who rated q in `held`,
    the share who also rated n there.  `lift(top)` averages that share over
    each query's neighbours and over the queries, and divides it by the same
    share for an item drawn at random (computed exactly), so random picks
    score 1.  Only items below `n_items` count; users are counted once per item.
    """

    def __init__(self, held: RatingArrays, n_items: int, queries: np.ndarray):
        seen = held.items < n_items
        rated = np.zeros((held.n_users, n_items), np.float32)
        rated[held.users[seen], held.items[seen]] = 1.0
        self.co = rated[:, queries].T @ rated  # (queries, items): users who rated both
        self.co[np.arange(len(queries)), queries] = 0.0
        self.raters = rated[:, queries].sum(axis=0)
        self.scored = self.raters > 0
        # A random other item: each rater of q rated (their items - 1) of the n_items - 1 others.
        self.random_share = self.co.sum(axis=1) / np.maximum(self.raters, 1) / (n_items - 1)

    def lift(self, top: np.ndarray) -> float:
        """`top`: each query's neighbours (item indices, -1 where there is none)."""
        found = top >= 0
        share = np.take_along_axis(self.co, np.where(found, top, 0), axis=1) / np.maximum(self.raters, 1)[:, None]
        per_query = np.where(found, share, 0).sum(axis=1) / np.maximum(found.sum(axis=1), 1)
        return float(per_query[self.scored].mean() / self.random_share[self.scored].mean())
