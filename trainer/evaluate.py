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
import logging

import numpy as np
import tensorflow as tf

from features.spec import FeatureSpec
from trainer import references as ref
from trainer.references import POSITIVE_RATING
from embedding_uses.rated import csr_from_pairs, csr_rows, distinct_sorted
from trainer.metrics import BiasBaseline, ranking_metrics, scorer_for
from trainer.model import SpecModel, TrainingData, collect
from embedding_uses.ranking_score import RankingWeights
from embedding_uses.topk import DEFAULT_BLOCK, TopKScorer
from embedding_uses.vectors import Interactions, TowerVectors

log = logging.getLogger(__name__)
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
    # A class the train split never had has no line in the label vocabulary (index -1): no model can score it.
    known = ev["label"] >= 0 if spec.label.has_vocabulary else np.ones(len(ev["label"]), bool)
    if not known.all():
        log.warning("%d eval example(s) have a class the train split lacks; the figures leave them out",
                    int((~known).sum()))

    def score(label: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
        return scorer_for(spec.label.task)(label[known], prediction[known])

    train_mean = manifest["label"]["train_mean"]
    baseline = (np.tile(manifest["label"]["class_priors"], (len(ev["label"]), 1)) if spec.label.is_multiclass
                else np.full_like(ev["label"], train_mean))
    metrics = {"model": score(ev["label"], ev["prediction"]), "baseline_mean": score(ev["label"], baseline)}
    if not known.all():
        metrics["eval_examples_of_unknown_class"] = int((~known).sum())
    for name, part in model.parts().items():  # a blend's parts, each on its own
        metrics[f"model_{name}"] = score(ev["label"], collect(part, data.eval_one_pass)["prediction"])
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
    (embedding_uses/ranking_score.py) with `weights`, chosen before on the
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


def ranking_on_same_rows(indexes: dict, users: np.ndarray, items: np.ndarray, labels: np.ndarray,
                         k: int = RANKING_K, positive: float = POSITIVE_RATING) -> dict[str, dict]:
    """recall@k and NDCG@k of several model versions on the same held-out positives (retraining's gate).

    `indexes`: name -> EmbeddingIndex (embedding_uses/recommend.py) of each version; `users`, `items`, `labels`: raw
    eval rows (ids as written in the data).  Exactly the same question is put to every version:

    - the users scored are those with a held-out positive (label >= `positive`) whom every version knows;
    - their truth is all their held-out positives, also items a version does not know (a miss for it: it
      could never recommend them), so every version is divided by the same counts;
    - the items left out of a user's list are the union of every version's rated pairs minus the eval
      rows' pairs: what the user rated in training data, whichever version saw it;
    - each version ranks with its own ranking score and weights (`index.scorer`), as `recommend` does.
    """
    names = list(indexes)
    user_ids = [np.asarray(indexes[n].user_ids, str) for n in names]
    item_ids = [np.asarray(indexes[n].item_ids, str) for n in names]
    users, items = np.asarray(users).astype(str), np.asarray(items).astype(str)
    user_code, (eval_user, *index_user) = _common_codes([users, *user_ids])
    item_code, (eval_item, *index_item) = _common_codes([items, *item_ids])
    n_items = len(item_code)
    rated = np.concatenate([codes_u[np.repeat(np.arange(len(codes_u)), np.diff(indexes[n].rated_indptr))]
                            * n_items + codes_i[indexes[n].rated_indices]
                            for n, codes_u, codes_i in zip(names, index_user, index_item)])
    eval_pairs = eval_user.astype(np.int64) * n_items + eval_item
    exclude = np.setdiff1d(distinct_sorted(rated), distinct_sorted(eval_pairs), assume_unique=True)
    good = np.asarray(labels, np.float64) >= positive
    scored = distinct_sorted(eval_user[good])
    for codes_u in index_user:
        scored = np.intersect1d(scored, distinct_sorted(codes_u), assume_unique=True)
    row_of = np.full(len(user_code), -1, np.int64)
    row_of[scored] = np.arange(len(scored))
    truth_rows = row_of[eval_user[good]]
    truth = csr_from_pairs(truth_rows, eval_item[good], len(scored), n_items)
    ex_rows, ex_items = row_of[exclude // n_items], exclude % n_items
    keep = ex_rows >= 0
    result = {}
    for n, codes_u, codes_i in zip(names, index_user, index_item):
        index = indexes[n]
        position = np.full(len(user_code), -1, np.int64)
        position[codes_u] = np.arange(len(codes_u))
        item_position = np.full(n_items, -1, np.int64)
        item_position[codes_i] = np.arange(len(codes_i))
        ex_ptr, ex_idx = csr_from_pairs(ex_rows[keep], item_position[ex_items[keep]], len(scored), len(codes_i))
        scorer, tops = index.scorer(k), []
        for start in range(0, len(scored), DEFAULT_BLOCK):
            block = np.arange(start, min(start + DEFAULT_BLOCK, len(scored)))
            top = scorer.top_k(index.users[position[scored[block]]], *csr_rows(ex_ptr, ex_idx, block))[0]
            tops.append(np.where(top >= 0, codes_i[np.maximum(top, 0)], -1))
        top = np.concatenate(tops) if tops else np.zeros((0, k), np.int64)
        result[n] = {**ranking_metrics(top, *truth, np.arange(len(scored)), k), "users": int(len(scored))}
    return result


def _common_codes(arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One integer code per distinct id across `arrays`, and each array as codes."""
    distinct, inverse = np.unique(np.concatenate(arrays), return_inverse=True)
    return distinct, np.split(inverse.astype(np.int64), np.cumsum([len(a) for a in arrays])[:-1])
