"""TopKScorer is exact: the same top K as a float64 brute force, rated items excluded, bias included.

Ties rank the lower item index first.  Small random catalogs with chunk and group sizes
shrunk so that every path runs, in both scan precisions (bfloat16 and float32): several
chunks, fewer chunks than K, users with more rated items than K, users left with fewer
than K unrated items, users scored exhaustively, near-ties closer than bfloat16 can tell
apart, and a scan made deliberately inexact to show the float64 re-rank, not the scan,
decides the result.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from trainer.topk import TopKScorer


def reference(users, items, bias, k, rated):
    """float64 scores, rated items at -inf, best first, ties by lower item index."""
    scores = users.astype(np.float64) @ items.astype(np.float64).T + bias.astype(np.float64)
    for row, seen in enumerate(rated):
        scores[row, seen] = -np.inf
    top = np.stack([np.lexsort((np.arange(len(row)), -row))[:k] for row in scores])
    best = np.take_along_axis(scores, top, axis=1)
    return np.where(np.isfinite(best), top, -1), best.astype(np.float32)


def csr(rated):
    return np.r_[0, np.cumsum([len(r) for r in rated])], np.concatenate(rated).astype(np.int32)


def check(scorer, users, items, bias, rated, k=10):
    got, got_scores = scorer.top_k(users, *csr(rated))
    want, want_scores = reference(users, items, bias, k, rated)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_scores, want_scores)


PRECISIONS = pytest.mark.parametrize("precision", ["bfloat16", "float32"])


@PRECISIONS
@pytest.mark.parametrize("n_items, sizes", [
    (23, {}),
    (400, {"group_size": 4, "chunk_size": 64}),
    (3001, {"group_size": 8, "chunk_size": 256}),
    (3001, {}),
])
def test_exact_with_rated_items_and_bias(n_items, sizes, precision):
    rng = np.random.default_rng(n_items)
    items = rng.normal(size=(n_items, 6)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    users = rng.normal(size=(60, 6)).astype(np.float32)
    rated = [rng.choice(n_items, size=rng.integers(0, min(40, n_items)), replace=False) for _ in range(58)]
    # One user has rated all but 4 items, one has rated everything: -inf slots, item -1.
    rated += [np.arange(n_items)[:-4], np.arange(n_items)]
    check(TopKScorer(items, bias, k=10, precision=precision, **sizes), users, items, bias, rated)


@PRECISIONS
def test_ties_rank_the_lower_item_first(precision):
    rng = np.random.default_rng(7)
    # Integer-valued vectors: many exactly equal scores, and duplicated items.
    base = rng.integers(-2, 3, size=(300, 4)).astype(np.float32)
    items = np.concatenate([base, base[::-1], base[:100]])
    bias = rng.integers(-1, 2, size=len(items)).astype(np.float32)
    users = rng.integers(-2, 3, size=(50, 4)).astype(np.float32)
    rated = [rng.choice(len(items), size=rng.integers(0, 30), replace=False) for _ in range(50)]
    check(TopKScorer(items, bias, k=10, group_size=8, chunk_size=128, precision=precision),
          users, items, bias, rated)


@PRECISIONS
def test_near_ties_closer_than_the_scan_can_tell_are_ranked_exactly(precision):
    """Many items within one bfloat16 rounding of each other at the top, and twins one float32 ulp apart.

    The scan sees these as equal (or in the wrong order); the kept groups must still hold every item
    of the true top K and the re-rank must order them by their float64 scores, then by item index.
    """
    rng = np.random.default_rng(5)
    n_items, dim = 6000, 7
    items = rng.normal(size=(n_items, dim)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    users = rng.normal(size=(40, dim)).astype(np.float32)
    # 300 items scattered over the catalog score within ~1e-2 of each other for user 0 (bfloat16's
    # error is ~0.5e-2 of |user| |item| ~ 60), and 200 items tie user 1's best up to float32 noise in their vectors.
    near = rng.choice(n_items, 300, replace=False)
    items[near] = items[near[0]] + rng.normal(scale=1e-4, size=(300, dim)).astype(np.float32)
    bias[near] = bias[near[0]]
    twins = rng.choice(np.setdiff1d(np.arange(n_items), near), 200, replace=False)
    items[twins] = items[twins[0]]
    bias[twins] = np.nextafter(bias[twins[0]], np.float32(np.inf)) * (np.arange(200) % 2) \
        + bias[twins[0]] * (1 - np.arange(200) % 2)
    users[0], users[1] = items[near[0]] * 3, items[twins[0]] * 3  # the near-ties and twins top their lists
    rated = [rng.choice(n_items, size=rng.integers(0, 30), replace=False) for _ in range(40)]
    rated[0] = np.concatenate([rated[0], near[:5]])  # some of the near-ties rated
    check(TopKScorer(items, bias, k=10, group_size=8, chunk_size=256, precision=precision),
          users, items, bias, rated)


def test_margin_covers_bfloat16_rounding_in_the_worst_direction():
    """The scan's items rounded adversarially (one bfloat16 ulp, within the error bound) reverse the order
    at the top: the true top 10 score 1 lower than 30 others in the scan.  Only the 2E margin keeps their
    groups, so this fails if the threshold had no margin or a margin below bfloat16's error.

    Users and items are exact in bfloat16, so the scan's own rounding adds nothing but the output's.
    """
    rng = np.random.default_rng(13)
    n_items = 2000
    items = rng.normal(size=(n_items, 2)).astype(np.float32)
    bias = np.zeros(n_items, np.float32)
    band = 5 + 47 * np.arange(40)  # one band item per chunk of 32
    # Scores 100 + b for user (1, 1): the top 10 at b = 0.5 + (10..19)/256, the next 30 below them.
    b = np.r_[0.5 + np.arange(10, 20) / 256, 0.5 + np.arange(10) / 256, 0.5 - np.arange(1, 21) / 512]
    items[band] = np.stack([np.full(40, 100.0), b], axis=1)
    users = np.array([[1, 1], [2, 2], [0.5, 0.5]], np.float32)
    rated = [np.zeros(0, np.int64)] * 3
    scorer = TopKScorer(items, bias, k=10, group_size=4, chunk_size=32, precision="bfloat16")
    skewed = items.copy()
    skewed[band[:10], 0] = 99.5  # one ulp down (ulp 0.5 in [64, 128))
    skewed[band[10:], 0] = 100.5  # one ulp up
    scorer._chunks = TopKScorer(skewed, bias, k=10, group_size=4, chunk_size=32, precision="bfloat16")._chunks
    want, _ = reference(users, items, bias, 10, rated)
    assert set(want[0]) == set(band[:10])
    check(scorer, users, items, bias, rated)


@PRECISIONS
def test_users_the_threshold_bounds_badly_are_scored_exhaustively(precision):
    rng = np.random.default_rng(3)
    n_items = 20_000  # 20,000 items: more than a user may keep (8,192) before going exhaustive
    items = rng.normal(size=(n_items, 5)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    users = rng.normal(size=(6, 5)).astype(np.float32)
    scorer = TopKScorer(items, bias, k=10, precision=precision)
    rated = [rng.choice(n_items, size=5, replace=False) for _ in range(6)]
    rated[1] = np.arange(8 * scorer._chunk, n_items)  # unrated items in 8 chunks only: fewer than K, no threshold
    rated[2] = np.setdiff1d(np.arange(n_items), [5, 17])  # two items left
    exhaustive, scored = [], scorer._exhaustive
    scorer._exhaustive = lambda users, part, *rest: (exhaustive.extend(part.tolist()), scored(users, part, *rest))[1]
    check(scorer, users, items, bias, rated)
    assert exhaustive == [1, 2]


@PRECISIONS
def test_items_sharing_a_large_mean(precision):
    """Trained embeddings share a mean; the scan centres it away, the re-rank scores the items as they are."""
    rng = np.random.default_rng(17)
    n_items = 5000
    mean = 40 * rng.normal(size=6)
    items = (rng.normal(size=(n_items, 6)) + mean).astype(np.float32)
    bias = (rng.normal(size=n_items) + 25).astype(np.float32)
    users = (rng.normal(size=(30, 6)) + mean / 40).astype(np.float32)
    rated = [rng.choice(n_items, size=rng.integers(0, 30), replace=False) for _ in range(30)]
    rated[4] = np.setdiff1d(np.arange(n_items), [7, 4000])  # two items left: scored exhaustively
    check(TopKScorer(items, bias, k=10, group_size=8, chunk_size=256, precision=precision), users, items, bias, rated)


@PRECISIONS
def test_popularity_only_scores_many_equal_biases(precision):
    """The popularity scorer: no vectors, a bias with few distinct values, so thousands of exact ties."""
    rng = np.random.default_rng(9)
    counts = rng.integers(0, 6, 5000)
    items = np.zeros((5000, 1), np.float32)
    bias = np.log1p(counts).astype(np.float32)
    users = np.zeros((20, 1), np.float32)
    rated = [rng.choice(5000, size=rng.integers(0, 40), replace=False) for _ in range(20)]
    check(TopKScorer(items, bias, k=10, precision=precision), users, items, bias, rated)


def test_precision_must_be_known():
    with pytest.raises(ValueError, match="precision must be one of"):
        TopKScorer(np.zeros((5, 2), np.float32), precision="float16")


def test_rerank_not_scan_decides_when_scan_scores_are_off_within_the_margin():
    """The scan may be off by up to its margin; the float64 re-rank must still get every rank right.

    Twin items whose scores differ by one float32 ulp, and noise (within the margin) on the
    scan's copy of the items: ranking by the scan's scores gets the order wrong, so this
    fails if the scan's scores or order were used, or if the threshold had no margin.
    """
    rng = np.random.default_rng(11)
    base = rng.normal(size=(500, 8)).astype(np.float32)
    items = np.concatenate([base, base])
    bias = rng.normal(size=500).astype(np.float32)
    bias = np.concatenate([bias, np.nextafter(bias, np.float32(np.inf))])
    users = rng.normal(size=(40, 8)).astype(np.float32)
    rated = [rng.choice(len(items), size=rng.integers(0, 15), replace=False) for _ in range(40)]
    scorer = TopKScorer(items, bias, k=10, group_size=8, chunk_size=128, precision="float32")
    # Noise of norm 0.15e-6 |item| moves a score by at most 0.15e-6 |user| |item|; with float32
    # rounding (<= 9 * 2^-24 = 0.54e-6 of that) it stays within E (error_bound: ~12 * 2^-24 = 0.72e-6).
    augmented = np.hstack([items, bias[:, None]])
    noise = rng.normal(size=augmented.shape)
    noise *= 0.15e-6 * np.linalg.norm(augmented, axis=1, keepdims=True) / np.linalg.norm(noise, axis=1, keepdims=True)
    noisy = (augmented + noise).astype(np.float32)
    scorer._chunks = TopKScorer(noisy[:, :8], noisy[:, 8], k=10, group_size=8, chunk_size=128,
                                precision="float32")._chunks
    want, _ = reference(users, items, bias, 10, rated)
    scan_scores = np.hstack([users, np.ones((40, 1), np.float32)]) @ noisy.T
    for row, seen in enumerate(rated):
        scan_scores[row, seen] = -np.inf
    assert (np.argsort(-scan_scores, axis=1, kind="stable")[:, :10] != want).any(), "noise too weak to matter"
    check(scorer, users, items, bias, rated)
