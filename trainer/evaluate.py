"""Evaluate a trained model on the eval split against its baselines: what `metrics.json` reports.

Every number comes from the same numpy code (trainer/metrics.py) applied to
predictions over the whole eval split: the model, the global mean and, for
models that learn user and item ids, the bias-only baseline and top-K
ranking against popularity and EASE.  Those models also get `Interactions`, every
known user x item pair, which the version folder keeps so recommendations
exclude what a user already rated.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from features.spec import FeatureSpec
from trainer import references as ref
from trainer.references import POSITIVE_RATING
from trainer.metrics import BiasBaseline, binary_metrics, csr_from_pairs, csr_rows, ranking_metrics, regression_metrics
from trainer.model import SpecModel, TrainingData, collect
from trainer.ranking_score import RankingWeights
from trainer.topk import DEFAULT_BLOCK, TopKScorer
from trainer.vectors import Interactions, TowerVectors

RANKING_K = 10
RANKING_MAX_USERS = 20_000  # a seeded sample of users beyond this: recall@10 to about +-0.003, seconds not minutes
EASE_IN_METRICS_MAX_ITEMS = 2_500  # four items x items inverses (choosing l2, then the fit): seconds at this size


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """metrics.json's content, and the interactions the version folder keeps (models that learn ids only)."""

    metrics: dict
    interactions: Interactions | None

    @property
    def ranking_weights(self) -> RankingWeights:
        """The ranking score's weights that evaluation chose (recommendations' default)."""
        chosen = self.metrics.get("ranking", {}).get("weights")
        return RankingWeights(chosen["popularity_weight"], chosen["rating_weight"]) if chosen else RankingWeights()


def evaluate(model: SpecModel, spec: FeatureSpec, manifest: dict, data: TrainingData,
             vectors: TowerVectors | None, selection: dict | None = None) -> Evaluation:
    """Model and baseline metrics on the eval split, all computed by the same numpy code.

    `selection`: what the model chose on the validation slice (SpecModel.finish: the ranking weights); the eval
    split only reports.  Baselines are fitted on the whole train split (fit part and validation slice).
    """
    selection = selection or {}
    keys = model.id_features or ()
    ev = collect(model, data.eval_one_pass, keys)
    score = binary_metrics if spec.label.is_binary else regression_metrics
    train_mean = manifest["label"]["train_mean"]
    metrics = {"model": score(ev["label"], ev["prediction"]),
               "baseline_mean": score(ev["label"], np.full_like(ev["label"], train_mean))}
    if spec.label.transform == "log":
        metrics["model_label_units"] = score(np.exp(ev["label"]), np.exp(ev["prediction"]))
        metrics["baseline_mean_label_units"] = score(np.exp(ev["label"]), np.full_like(ev["label"], np.exp(train_mean)))
    interactions = None
    if model.id_features:
        user, item = model.id_features
        tr = data.columns("train", keys)
        n_users, n_items = (manifest["features"][name]["cardinality"] for name in (user, item))
        baseline = BiasBaseline().fit(tr[user], tr[item], tr["label"], n_users, n_items)
        metrics["baseline_bias"] = score(ev["label"], baseline.predict(ev[user], ev[item]))
        if vectors is not None:
            n_users, n_items = len(vectors.users), len(vectors.items)
            train = csr_from_pairs(tr[user], tr[item], n_users, n_items)
            interactions = Interactions(
                *csr_from_pairs(np.r_[tr[user], ev[user]], np.r_[tr[item], ev[item]], n_users, n_items),
                item_count=np.bincount(train[1], minlength=n_items))
            metrics["ranking"] = ranking(vectors, interactions.item_count, train, (ev[user], ev[item], ev["label"]),
                                         selection.get("weights", RankingWeights()))
            metrics["ranking"].update({key: value for key, value in selection.items() if key != "weights"})
            metrics["ranking"].update(ease_reference(*(ref.RatingArrays(d[user], d[item], d["label"], n_users, n_items)
                                                       for d in (tr, ev))))
    metrics["eval_examples"] = int(len(ev["label"]))
    return Evaluation(metrics, interactions)


def ranking(vectors: TowerVectors, item_count: np.ndarray, train: tuple[np.ndarray, np.ndarray],
            held_out: tuple[np.ndarray, np.ndarray, np.ndarray], weights: RankingWeights = RankingWeights(),
            k: int = RANKING_K, positive: float = POSITIVE_RATING) -> dict:
    """recall@k / NDCG@k on held-out positives (eval ratings >= `positive`): the model against popularity.

    `train` is the CSR of train pairs.  Candidates are all items the user did
    not rate in train.  The model ranks by its ranking score
    (trainer/ranking_score.py) with `weights`, chosen before on the
    validation slice.  Also reported: the model by predicted rating alone,
    and popularity alone.  Past RANKING_MAX_USERS users with a held-out
    positive, a seeded sample of them is scored: top-K passes over every user
    would take longer than training at a million users.
    """
    n_users, n_items = len(vectors.users), len(vectors.items)
    train_ptr, train_idx = train
    users_ev, items_ev, label = held_out
    good = label >= positive
    eval_ptr, eval_idx = csr_from_pairs(users_ev[good], items_ev[good], n_users, n_items)
    with_positives = np.flatnonzero(np.diff(eval_ptr) > 0)
    users = _sample(with_positives, RANKING_MAX_USERS)

    def score(scorer: TopKScorer, chosen_users: np.ndarray, user_vectors: np.ndarray) -> dict[str, float]:
        tops = []
        for start in range(0, len(chosen_users), DEFAULT_BLOCK):
            block = chosen_users[start:start + DEFAULT_BLOCK]
            tops.append(scorer.top_k(user_vectors[block], *csr_rows(train_ptr, train_idx, block))[0])
        top = np.concatenate(tops) if tops else np.zeros((0, k), np.int64)
        return ranking_metrics(top, eval_ptr, eval_idx, chosen_users, k)

    parts = vectors.item_scores(item_count)
    no_users = np.zeros((n_users, 1), np.float32)
    return {
        "users": int(len(users)), "users_with_positives": int(len(with_positives)), "positive_rating": positive,
        "k": k, "weights": weights.to_dict(),
        "model": score(parts.scorer(weights, k), users, vectors.users),
        "model_rating_only": score(parts.rating_only_scorer(k), users, vectors.users),
        "popularity": score(parts.popularity_scorer(k), users, no_users),
    }


def _sample(users: np.ndarray, at_most: int) -> np.ndarray:
    """A seeded sample of at most `at_most` of these users, in order."""
    if len(users) <= at_most:
        return users
    return np.sort(np.random.default_rng(0).choice(users, at_most, replace=False))


def ease_reference(train: ref.RatingArrays, held_out: ref.RatingArrays, k: int = RANKING_K) -> dict:
    """EASE's figures on the same split, where its items x items inverse is cheap; else why it is left out.

    EASE is the strongest simple reference on MovieLens-shaped data; its l2
    is chosen on a validation slice of the train split (trainer/references.py).
    Larger catalogues: bench/ranking.py computes it (up to ~20K items).
    """
    if train.n_items > EASE_IN_METRICS_MAX_ITEMS:
        return {"ease_skipped": f"{train.n_items} items > {EASE_IN_METRICS_MAX_ITEMS}: bench/ranking.py computes "
                                f"EASE for catalogues up to {ref.EASE_MAX_ITEMS}"}
    train, held_out = train.known(), held_out.known()  # the model's out-of-vocabulary rows are not ranked
    l2, _ = ref.choose_ease_l2(train, k=k)
    users = ref.users_to_score(held_out)
    top = ref.top_k_unrated(ref.ease_scorer(train, ref.ease_weights(ref.gram(train), l2)), train, users, k)
    return {"ease": {**ref.evaluate_top_k(top, users, held_out, k), "l2": l2}}
