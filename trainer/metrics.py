"""Metrics on held-out data, and the baselines a model must beat.

Metrics are computed in numpy from full-eval-set predictions, so the model
and every baseline are scored by exactly the same code.
"""

from __future__ import annotations

import numpy as np


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    err = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def binary_metrics(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y_true, np.float64)
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return {"auc": auc(y, p), "accuracy": float(np.mean((p >= 0.5) == (y >= 0.5))),
            "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))}


def multiclass_metrics(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Log-loss and accuracy of class probabilities [rows, classes] against class indices."""
    y = np.asarray(y_true).astype(np.int64)
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1.0)
    return {"accuracy": float(np.mean(np.argmax(p, axis=1) == y)),
            "log_loss": float(-np.mean(np.log(p[np.arange(len(y)), y])))}


def class_metrics(task: str, names: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, float]:
    """A classification's metrics from class names: each row's class found in `classes` (the columns of
    `probabilities`); rows of a class not among them are left out (no model trained without it can score them)."""
    index = np.array([classes.index(n) if n in classes else -1 for n in names], np.int64)
    known = index >= 0
    if task == "binary_classification":
        return binary_metrics(index[known], probabilities[known, 1])
    return multiclass_metrics(index[known], probabilities[known])


def scorer_for(task: str):
    """The metrics of a label's task: regression, binary or multiclass classification."""
    return {"regression": regression_metrics, "binary_classification": binary_metrics,
            "multiclass_classification": multiclass_metrics}[task]


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula (ties get average ranks)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    pos = y >= 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


BIAS_PSEUDO_RATINGS = 5.0  # how far a bias is damped towards 0: the baseline's and the two-tower model's


class BiasBaseline:
    """rating ~ mean + user bias + item bias, fitted by regularised alternating least squares.

    The classic baseline predictor for ratings (Koren 2008): everything a
    rating model gets from "this user rates high, this item is liked" and
    nothing from user x item interaction.  A model must beat it to show it
    learned tastes.
    """

    def __init__(self, reg_user: float = BIAS_PSEUDO_RATINGS, reg_item: float = BIAS_PSEUDO_RATINGS,
                 iterations: int = 10):
        self.reg_user, self.reg_item, self.iterations = reg_user, reg_item, iterations

    def fit(self, users: np.ndarray, items: np.ndarray, y: np.ndarray, n_users: int, n_items: int) -> "BiasBaseline":
        self.mean = float(np.mean(y))
        self.user_bias = np.zeros(n_users)
        self.item_bias = np.zeros(n_items)
        user_count = np.bincount(users, minlength=n_users)
        item_count = np.bincount(items, minlength=n_items)
        for _ in range(self.iterations):
            residual = y - self.mean - self.user_bias[users]
            self.item_bias = np.bincount(items, residual, n_items) / (item_count + self.reg_item)
            residual = y - self.mean - self.item_bias[items]
            self.user_bias = np.bincount(users, residual, n_users) / (user_count + self.reg_user)
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mean + self.user_bias[users] + self.item_bias[items]


def ranking_metrics(top: np.ndarray, relevant_indptr: np.ndarray, relevant: np.ndarray,
                    users: np.ndarray, k: int = 10) -> dict[str, float]:
    """recall@k and NDCG@k (binary relevance) of ranked lists `top` for `users` (rows of the CSR)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    recalls, ndcgs = [], []
    for row, user in enumerate(users):
        truth = relevant[relevant_indptr[user]:relevant_indptr[user + 1]]
        hits = np.isin(top[row, :k], truth)
        recalls.append(hits.sum() / len(truth))
        ideal = discounts[:min(len(truth), k)].sum()
        ndcgs.append((hits * discounts[:len(hits)]).sum() / ideal)
    return {f"recall@{k}": float(np.mean(recalls)), f"ndcg@{k}": float(np.mean(ndcgs))}
