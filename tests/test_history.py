"""The user-history layer's shortcuts (sums per distinct user, the left-out item taken off the sum, capped
histories) must give exactly the sum / sqrt(count) a plain per-example computation gives."""

import numpy as np

from embedding_uses.rated import capped_rows, csr_from_pairs, distinct_sorted
from trainer.history import UserHistory


def _naive_vector(table, indptr, indices, user, leave_out=None):
    items = [i for i in indices[indptr[user]:indptr[user + 1]] if i != leave_out]
    return table[items].sum(axis=0) / np.sqrt(len(items)) if items else np.zeros(table.shape[1], np.float32)


def test_history_vector_leaves_out_the_example_item_per_example():
    rng = np.random.default_rng(0)
    lengths = np.array([3, 1, 0, 5])
    indptr = np.r_[0, np.cumsum(lengths)]
    indices = np.concatenate([rng.choice(20, n, replace=False) for n in lengths])
    layer = UserHistory(num_items=20, dim=4)
    layer.remember(indptr, indices)
    users = np.array([0, 0, 1, 3, 2, 3, 7])  # repeats, an empty history, an id past the known users
    targets = np.array([indices[0], 19, indices[3], indices[4], 5, 11, 2])  # in the history or not
    got = layer(users, leave_out=targets).numpy()
    table = layer.item_embeddings.embeddings.numpy()
    for row, (user, target) in enumerate(zip(users, targets)):
        known = user if user < len(lengths) else len(lengths)  # unknown users have the empty last row
        expected = _naive_vector(table, np.r_[indptr, indptr[-1]], indices, known, target)
        np.testing.assert_allclose(got[row], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(users).numpy()[0], _naive_vector(table, indptr, indices, 0), rtol=1e-5)


def test_long_histories_are_cut_to_a_seeded_sample_of_their_own_items():
    indptr = np.array([0, 5, 305, 306])
    indices = np.r_[np.arange(5), np.arange(1000, 1300), 7]
    cut_indptr, cut = capped_rows(indptr, indices, max_items=100)
    assert np.diff(cut_indptr).tolist() == [5, 100, 1]
    assert cut[:5].tolist() == list(range(5)) and cut[-1] == 7
    assert set(cut[5:105]) <= set(range(1000, 1300)) and len(set(cut[5:105])) == 100
    again_indptr, again = capped_rows(indptr, indices, max_items=100)
    assert np.array_equal(again, cut) and np.array_equal(again_indptr, cut_indptr)


def test_training_samples_estimate_the_exact_vector_and_never_read_the_left_out_item():
    users = 4000
    indptr = np.arange(users + 1) * 5
    indices = np.tile(np.array([2, 3, 5, 7, 11]), users)  # every user rated the same five items
    layer = UserHistory(num_items=20, dim=4)
    layer.remember(indptr, indices)
    ids, targets = np.arange(users), np.full(users, 5)
    exact = layer(ids[:1], leave_out=targets[:1]).numpy()[0]
    sampled = layer(ids, leave_out=targets, training=True).numpy()
    np.testing.assert_allclose(sampled.mean(axis=0), exact, atol=0.05 * np.abs(exact).max())
    table = layer.item_embeddings.embeddings.numpy()
    # With two items, one of them the example's own: the vector is the other item's row or, if only the own item
    # was drawn, nothing.
    layer.remember(np.arange(users + 1) * 2, np.tile(np.array([5, 7]), users))
    two = layer(ids, leave_out=targets, training=True).numpy()
    # "nothing": the sum less the own item's row, zero up to float32 rounding (1.5e-8 seen)
    assert np.all(np.isclose(two, table[7], atol=1e-6).all(axis=1) | np.isclose(two, 0.0, atol=1e-6).all(axis=1))


def test_distinct_sorted_is_numpys_unique_and_the_csr_rows_hold_each_pair_once():
    rng = np.random.default_rng(3)
    for values in (rng.integers(0, 50, 1000), rng.integers(-5, 5, 7), np.array([4]), np.zeros(0, np.int64),
                   np.array(["b", "a", "b", "c"])):
        assert np.array_equal(distinct_sorted(values), np.unique(values))
    rows, cols = np.array([2, 0, 2, 0, 5, 1]), np.array([1, 3, 1, 0, 0, 9])  # (2, 1) twice; row 5, col 9 outside
    indptr, indices = csr_from_pairs(rows, cols, n_rows=4, n_cols=5)
    assert indptr.tolist() == [0, 2, 2, 3, 3] and indices.tolist() == [0, 3, 1]
