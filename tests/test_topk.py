"""TopKScorer is exact: the same top K as a float64 brute force, rated items excluded, bias included.

Ties rank the lower item index first.  Small random catalogs with chunk, group and probe
sizes shrunk so that every path runs: several chunks, a probe smaller than the catalog,
users with more rated items than K, users left with fewer than K unrated items, users
scored exhaustively, and a scan made deliberately inexact to show the float64 re-rank,
not the scan, decides the result.
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


@pytest.mark.parametrize("n_items, sizes", [
    (23, {}),
    (400, {"group_size": 4, "chunk_size": 64, "probe_size": 50}),
    (3001, {"group_size": 8, "chunk_size": 256, "probe_size": 300}),
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
    check(TopKScorer(items, bias, k=10, group_size=8, chunk_size=128, probe_size=64), users, items, bias, rated)


def test_users_the_probe_cannot_bound_are_scored_exhaustively():
    rng = np.random.default_rng(3)
    n_items = 20_000  # 1,250 groups of 16: more than a user may keep before going exhaustive
    items = rng.normal(size=(n_items, 5)).astype(np.float32)
    bias = rng.normal(size=n_items).astype(np.float32)
    users = rng.normal(size=(6, 5)).astype(np.float32)
    scorer = TopKScorer(items, bias, k=10, probe_size=10)
    rated = [rng.choice(n_items, size=5, replace=False) for _ in range(6)]
    scorer.top_k(users[:1])  # chooses the probe
    probe = np.flatnonzero(scorer._probe_position >= 0)
    rated[1] = probe[:3]  # fewer than K unrated probe items: no threshold
    rated[2] = np.setdiff1d(np.arange(n_items), [5, 17])  # two items left
    check(scorer, users, items, bias, rated)


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
    scorer = TopKScorer(items, bias, k=10, group_size=8, chunk_size=128, probe_size=100)
    # Noise of norm 0.4e-6 |item| moves a score by at most 0.4e-6 |user| |item|; with float32
    # rounding (<= 9 * 2^-24 = 0.54e-6 of that) it stays within the margin (2 * 9 * 2^-24).
    augmented = np.hstack([items, bias[:, None]])
    noise = rng.normal(size=augmented.shape)
    noise *= 0.4e-6 * np.linalg.norm(augmented, axis=1, keepdims=True) / np.linalg.norm(noise, axis=1, keepdims=True)
    noisy = np.zeros((scorer._n_chunks * scorer._chunk, 9), np.float32)
    noisy[:len(items)] = augmented + noise
    noisy[len(items):, 8] = -np.inf
    scorer._chunks = tf.constant(noisy.reshape(scorer._n_chunks, scorer._stride, 8, 9).transpose(0, 2, 1, 3)
                                 .reshape(scorer._n_chunks, scorer._chunk, 9))
    want, _ = reference(users, items, bias, 10, rated)
    scan_scores = np.hstack([users, np.ones((40, 1), np.float32)]) @ noisy[:len(items)].T
    for row, seen in enumerate(rated):
        scan_scores[row, seen] = -np.inf
    assert (np.argsort(-scan_scores, axis=1, kind="stable")[:, :10] != want).any(), "noise too weak to matter"
    check(scorer, users, items, bias, rated)
