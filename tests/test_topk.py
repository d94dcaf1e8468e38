"""TopKScorer is exact: the same top K as a float64 brute force, rated items excluded, bias included.

Ties rank the lower item index first.  Small random catalogs with chunk and group sizes
shrunk so that every path runs: several chunks, fewer chunks than K, users with more rated
items than K, users left with fewer than K unrated items, users scored exhaustively,
near-ties closer than float32 can tell apart, items sharing a large mean, and scans made
deliberately inexact (within the error bound) to show the float64 re-rank, not the scan,
decides the result and that the threshold's margin is needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from embedding_uses.topk import TopKScorer


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


@pytest.mark.parametrize("n_items, sizes", [
    (23, {}),
    (400, {"group_size": 4, "chunk_size": 64}),
    (3001, {"group_size": 8, "chunk_size": 256}),
    (3001, {}),
])
def test_exact_with_rated_items_and_bias(n_items, sizes):
    rng = np.random.default_rng(n_items)
    items = rng.normal(size=(n_items, 6)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    users = rng.normal(size=(60, 6)).astype(np.float32)
    rated = [rng.choice(n_items, size=rng.integers(0, min(40, n_items)), replace=False) for _ in range(58)]
    # One user has rated all but 4 items, one has rated everything: -inf slots, item -1.
    rated += [np.arange(n_items)[:-4], np.arange(n_items)]
    check(TopKScorer(items, bias, k=10, **sizes), users, items, bias, rated)


def test_ties_rank_the_lower_item_first():
    rng = np.random.default_rng(7)
    # Integer-valued vectors: many exactly equal scores, and duplicated items.
    base = rng.integers(-2, 3, size=(300, 4)).astype(np.float32)
    items = np.concatenate([base, base[::-1], base[:100]])
    bias = rng.integers(-1, 2, size=len(items)).astype(np.float32)
    users = rng.integers(-2, 3, size=(50, 4)).astype(np.float32)
    rated = [rng.choice(len(items), size=rng.integers(0, 30), replace=False) for _ in range(50)]
    check(TopKScorer(items, bias, k=10, group_size=8, chunk_size=128),
          users, items, bias, rated)


def test_near_ties_closer_than_the_scan_can_tell_are_ranked_exactly():
    """Many items within a float32 ulp or two of each other at the top, and twins one float32 ulp apart.

    The scan sees these as equal (or in the wrong order); the kept groups must still hold every item
    of the true top K and the re-rank must order them by their float64 scores, then by item index.
    """
    rng = np.random.default_rng(5)
    n_items, dim = 6000, 7
    items = rng.normal(size=(n_items, dim)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    users = rng.normal(size=(40, dim)).astype(np.float32)
    # 300 items scattered over the catalog score within a few float32 ulps of each other for user 0,
    # and 200 twins tie user 1's best but for one ulp of bias on every other one.
    near = rng.choice(n_items, 300, replace=False)
    items[near] = items[near[0]] + rng.normal(scale=2e-7, size=(300, dim)).astype(np.float32)
    bias[near] = bias[near[0]]
    twins = rng.choice(np.setdiff1d(np.arange(n_items), near), 200, replace=False)
    items[twins] = items[twins[0]]
    bias[twins] = np.where(np.arange(200) % 2, np.nextafter(bias[twins[0]], np.float32(np.inf)), bias[twins[0]])
    users[0], users[1] = items[near[0]] * 3, items[twins[0]] * 3  # the near-ties and twins top their lists
    rated = [rng.choice(n_items, size=rng.integers(0, 30), replace=False) for _ in range(40)]
    rated[0] = np.concatenate([rated[0], near[:5]])  # some of the near-ties rated
    check(TopKScorer(items, bias, k=10, group_size=8, chunk_size=256), users, items, bias, rated)


def test_margin_covers_scan_rounding_in_the_worst_direction():
    """The scan's items moved two float32 ulps the wrong way (within the error bound even with the scan's own
    rounding at its worst) reverse the order at the top: the true top 10 score below 30 others in the scan.
    Only the 2E margin keeps their groups, so this fails if the threshold had no margin or too small a one.

    User (1, 1), items (a, b), bias 0, so the scan's errors can be counted: E = error_bound(3) |user| max
    |centred item| ~ 5 * 2^-24 * 1.41 * 98 ~ 690 * 2^-24; the skew moves a score 2 ulps of 100 (256 * 2^-24),
    the centred copy's rounding up to 64 and the float32 sum's up to 3 * 2^-24 * 100.
    """
    rng = np.random.default_rng(13)
    n_items = 2000
    items = rng.normal(size=(n_items, 2)).astype(np.float32)
    bias = np.zeros(n_items, np.float32)
    band = 5 + 47 * np.arange(40)  # one band item per chunk of 32
    # Scores 100 + b for user (1, 1): the top 10 at b = 0.5 + (10..19) 2^-24, the next 30 just below.
    b = np.r_[0.5 + np.arange(10, 20) * 2.0 ** -24, 0.5 + np.arange(10) * 2.0 ** -24, 0.5 - np.arange(1, 21) * 2.0 ** -25]
    items[band] = np.stack([np.full(40, 100.0), b], axis=1)
    users = np.array([[1, 1], [2, 2], [0.5, 0.5]], np.float32)
    rated = [np.zeros(0, np.int64)] * 3
    scorer = TopKScorer(items, bias, k=10, group_size=4, chunk_size=32)
    skewed = items.copy()
    skewed[band[:10], 0] = 100 - 2 * 2.0 ** -17  # two ulps down (ulp 2^-17 in [64, 128))
    skewed[band[10:], 0] = 100 + 2 * 2.0 ** -17  # two ulps up
    scorer._chunks = TopKScorer(skewed, bias, k=10, group_size=4, chunk_size=32)._chunks
    want, _ = reference(users, items, bias, 10, rated)
    assert set(want[0]) == set(band[:10])
    check(scorer, users, items, bias, rated)


def test_users_the_threshold_bounds_badly_are_scored_exhaustively():
    rng = np.random.default_rng(3)
    n_items = 20_000  # 20,000 items: more than a user may keep (8,192) before going exhaustive
    items = rng.normal(size=(n_items, 5)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    users = rng.normal(size=(6, 5)).astype(np.float32)
    scorer = TopKScorer(items, bias, k=10)
    rated = [rng.choice(n_items, size=5, replace=False) for _ in range(6)]
    rated[1] = np.arange(8 * scorer.group_size, n_items)  # unrated items in 8 groups only: fewer than K, no threshold
    rated[2] = np.setdiff1d(np.arange(n_items), [5, 17])  # two items left
    exhaustive, scored = [], scorer._exhaustive
    scorer._exhaustive = lambda users, part, *rest: (exhaustive.extend(part.tolist()), scored(users, part, *rest))[1]
    check(scorer, users, items, bias, rated)
    assert exhaustive == [1, 2]


def test_a_block_scanned_in_two_halves():
    """300 users: padded to 384 rows, scanned as halves of 256 and 128 at once; same lists as one scan would give."""
    rng = np.random.default_rng(11)
    items = rng.normal(size=(3001, 6)).astype(np.float32)
    bias = rng.normal(size=3001).astype(np.float32)
    users = rng.normal(size=(300, 6)).astype(np.float32)
    rated = [rng.choice(3001, size=rng.integers(0, 30), replace=False) for _ in range(300)]
    scorer = TopKScorer(items, bias, k=10)
    halves, program = [], scorer._maxima
    scorer._maxima = lambda block, chunks: (halves.append(len(block)), program(block, chunks))[1]
    check(scorer, users, items, bias, rated)
    assert sorted(halves) == [128, 256]


def test_best_items_in_one_chunk_keep_few_groups():
    """A vocabulary lists the popular items first, so a trained model's best items share the first chunk: the
    threshold is the K-th best group, not the K-th best chunk, or nearly every group of the other chunks is
    kept for the re-rank (about 210 per user on a trained 464K-item model, 13 now)."""
    rng = np.random.default_rng(5)
    n_items = 20_000
    items = rng.normal(size=(n_items, 5)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    bias[:1024] += 6  # the first chunk's items are far ahead of the rest
    users = rng.normal(size=(40, 5)).astype(np.float32)
    rated = [rng.choice(n_items, size=20, replace=False) for _ in range(40)]
    scorer = TopKScorer(items, bias, k=10)
    kept, rerank = [], scorer._rerank
    scorer._rerank = lambda users, part, hits, counts, *rest: (kept.extend(counts[part]),
                                                                rerank(users, part, hits, counts, *rest))[1]
    check(scorer, users, items, bias, rated)
    assert len(kept) == 40 and max(kept) <= scorer._chunk // scorer.group_size  # groups of the first chunk only


def test_items_sharing_a_large_mean():
    """Trained embeddings share a mean; the scan centres it away, the re-rank scores the items as they are."""
    rng = np.random.default_rng(17)
    n_items = 5000
    mean = 40 * rng.normal(size=6)
    items = (rng.normal(size=(n_items, 6)) + mean).astype(np.float32)
    bias = (rng.normal(size=n_items) + 25).astype(np.float32)
    users = (rng.normal(size=(30, 6)) + mean / 40).astype(np.float32)
    rated = [rng.choice(n_items, size=rng.integers(0, 30), replace=False) for _ in range(30)]
    rated[4] = np.setdiff1d(np.arange(n_items), [7, 4000])  # two items left: scored exhaustively
    check(TopKScorer(items, bias, k=10, group_size=8, chunk_size=256), users, items, bias, rated)


@pytest.mark.parametrize("dim", [1, 3])
def test_popularity_only_scores_many_equal_biases(dim):
    """The popularity scorer: no vectors, a bias with few distinct values, so thousands of exact ties.

    Every user's list is then one order of the items less their rated ones (no scan, no exhaustive scoring),
    also for users whose vectors are not zero and users left with fewer than K unrated items.
    """
    rng = np.random.default_rng(9)
    counts = rng.integers(0, 6, 5000)
    items = np.zeros((5000, dim), np.float32)
    bias = np.log1p(counts).astype(np.float32)
    users = np.zeros((22, dim), np.float32)
    users[::2] = rng.normal(size=(11, dim))
    rated = [rng.choice(5000, size=rng.integers(0, 40), replace=False) for _ in range(20)]
    rated += [np.argsort(-counts, kind="stable")[:300], np.arange(5000)[:-3]]  # the top 300; all but 3 items
    scorer = TopKScorer(items, bias, k=10)
    scorer._scan = scorer._exhaustive = None  # the one-order path needs neither
    check(scorer, users, items, bias, rated)
