"""The references that need benchmark-only packages: iALS (`implicit`) for top-K lists, SVD++ (`surprise`) for RMSE.

Each runs as its own users run it: iALS with its regularisation and
confidence weight chosen on a validation slice of the training part (the
same slice EASE's lambda is chosen on), SVD++ with the library's defaults
(20 factors, 20 epochs), which its documentation reports for MovieLens.
Install with `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import itertools

import numpy as np

from trainer import references as ref

IALS_FACTORS = 32
IALS_ALPHA_GRID = (0.5, 2.0, 8.0)
IALS_L2_GRID = (1.0, 10.0, 50.0, 200.0)
IALS_ITERATIONS = 15


def ials_top_k(train: ref.RatingArrays, users: np.ndarray, k: int = 10,
               seed: int = 0) -> tuple[np.ndarray, dict[tuple[float, float], float]]:
    """iALS's top-k unrated items for `users`, (alpha, l2) chosen by recall@k on a validation slice of `train`.

    Returns the lists and the validation recall of every grid point.
    """
    held = ref.holdout_split(len(train.users), 0.2, seed)
    fit, validation = train.subset(~held), train.subset(held)
    val_users = ref.users_to_score(validation)
    by_setting = {}
    for alpha, l2 in itertools.product(IALS_ALPHA_GRID, IALS_L2_GRID):
        top = _ials(fit, val_users, k, alpha, l2, seed)
        by_setting[(alpha, l2)] = ref.evaluate_top_k(top, val_users, validation, k)[f"recall@{k}"]
    alpha, l2 = max(by_setting, key=by_setting.get)
    return _ials(train, users, k, alpha, l2, seed), by_setting


def _ials(train: ref.RatingArrays, users: np.ndarray, k: int, alpha: float, l2: float, seed: int) -> np.ndarray:
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    indptr, indices = train.csr()
    matrix = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(train.n_users, train.n_items))
    model = AlternatingLeastSquares(factors=IALS_FACTORS, regularization=l2, alpha=alpha, iterations=IALS_ITERATIONS,
                                    random_state=seed)
    with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS threads inside them only thrash
        model.fit(matrix, show_progress=False)
    user_factors, item_factors = np.asarray(model.user_factors), np.asarray(model.item_factors)
    return ref.top_k_unrated(lambda chunk: user_factors[chunk] @ item_factors.T, train, users, k)


def svdpp_predictions(train: ref.RatingArrays, test: ref.RatingArrays, seed: int = 0) -> np.ndarray:
    """SVD++ (Koren 2008) from `surprise`, default settings, fitted on `train`; its predictions for `test`."""
    import pandas as pd
    from surprise import Dataset, Reader, SVDpp

    low, high = float(train.ratings.min()), float(train.ratings.max())
    frame = pd.DataFrame({"u": train.users, "i": train.items, "r": train.ratings})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(low, high))).build_full_trainset()
    model = SVDpp(random_state=seed, cache_ratings=True)
    model.fit(trainset)
    return np.array([model.predict(u, i, clip=True).est for u, i in zip(test.users.tolist(), test.items.tolist())])
