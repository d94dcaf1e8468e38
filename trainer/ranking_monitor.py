"""recall@10 on the validation slice after every epoch, for models that learn what users pick; the ranking weights.

A retrieval model's eval loss is a poor stopping rule: the softmax over the
whole catalogue keeps getting worse on rarely rated items (it grows
confident about items seen once) while the top of each user's list, which
is all a recommendation shows, is still improving.  So a model with a
retrieval objective is stopped, and its best weights chosen, by the metric
its lists are judged by: recall@10 of the validation slice's ratings >= 4
(trainer/data.py: a seeded tenth of the train split the model does not fit
on), items the user rated in the fit part left out (the protocol of
`metrics.json` and bench/ranking.py), on a seeded sample of users so an
epoch's check takes seconds at a million users.  The ranking score's
weights are chosen on the same slice after training.  The eval split is
never looked at.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import tf_keras as keras

from embedding_uses.rated import csr_from_pairs, csr_rows
from trainer.metrics import ranking_metrics
from embedding_uses.ranking_score import ItemScores, RankingWeights
from embedding_uses.topk import TopKScorer

MONITORED_USERS = 5_000
METRIC = "val_recall_at_10"


@dataclasses.dataclass(frozen=True)
class HeldOutPositives:
    """Who rated what in the fit part (never recommended) and which held-out items each sampled user rated highly."""

    users: np.ndarray  # sampled users with at least one held-out positive
    rated: tuple[np.ndarray, np.ndarray]  # CSR over `users` (row r is users[r]) of fit-part items
    relevant: tuple[np.ndarray, np.ndarray]  # CSR over `users` of held-out positives

    @classmethod
    def sample(cls, train_pairs: tuple[np.ndarray, np.ndarray], eval_pairs: tuple[np.ndarray, np.ndarray],
               n_users: int, n_items: int, max_users: int = MONITORED_USERS, seed: int = 0) -> "HeldOutPositives":
        """Held-out positives (user, item) and fit pairs as index arrays -> a seeded sample of at most `max_users`."""
        eval_ptr, eval_idx = csr_from_pairs(*eval_pairs, n_users, n_items)
        users = np.flatnonzero(np.diff(eval_ptr) > 0)
        if len(users) > max_users:
            users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        train_ptr, train_idx = csr_from_pairs(*train_pairs, n_users, n_items)
        return cls(users, csr_rows(train_ptr, train_idx, users), csr_rows(eval_ptr, eval_idx, users))

    def recall(self, user_vectors: np.ndarray, item_vectors: np.ndarray, item_bias: np.ndarray,
               k: int = 10) -> float:
        """recall@k of ranking by user . item + bias (`user_vectors` are rows for `self.users`)."""
        return self.recall_of(TopKScorer(item_vectors, item_bias, k), user_vectors, k)

    def recall_of(self, scorer: TopKScorer, user_vectors: np.ndarray, k: int = 10) -> float:
        """recall@k of `scorer`'s lists (`user_vectors` are rows for `self.users`)."""
        top, _ = scorer.top_k(user_vectors, *self.rated)
        return ranking_metrics(top, *self.relevant, np.arange(len(self.users)), k)[f"recall@{k}"]


def choose_weights(parts: ItemScores, user_vectors: np.ndarray, positives: HeldOutPositives, k: int = 10) -> dict:
    """The ranking weights of the grid with the best recall@k on `positives` (the first best: smaller weights win
    ties), and every grid point's recall, for metrics.json."""
    by_weights = {w: positives.recall_of(parts.scorer(w, k), user_vectors, k) for w in RankingWeights.grid()}
    chosen = max(by_weights, key=by_weights.get)
    return {"weights": chosen, "validation_recall_by_weights": {w.label: r for w, r in by_weights.items()},
            "validation_users": int(len(positives.users))}


class RankingMonitor(keras.callbacks.Callback):
    """Logs `val_recall_at_10` at each epoch's end; `vectors()` gives (sampled users' vectors, items, item bias)."""

    def __init__(self, positives: HeldOutPositives, vectors: Callable[[np.ndarray], tuple]):
        super().__init__()
        self.positives, self._vectors = positives, vectors

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and len(self.positives.users):
            logs[METRIC] = self.positives.recall(*self._vectors(self.positives.users))
