"""Similar items and top-K recommendations from an exported model version's embeddings.

`embedflow similar` and `embedflow recommend` read `embeddings/` of a model
version (see trainer/embeddings.py); no training code or data is needed.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
import logging
import os
import re

import numpy as np
import pyarrow as pa
import tensorflow as tf

from features import manifest as mf
from features.errors import UserError
from features.spec import spec_from_dict
from trainer.embeddings import EMBEDDINGS_DIR, RATING_ITEMS_FILE, load_npy, typed_ids
from trainer.metrics import csr_rows
from trainer.neighbours import SIMILAR_POPULARITY_WEIGHT, cosine_top_k, popularity_prior, similarity_vectors
from trainer.ranking_score import ItemScores, RankingWeights
from trainer.topk import TopKScorer

log = logging.getLogger(__name__)


def _read_tsv(path: str) -> dict[str, list[str]]:
    with tf.io.gfile.GFile(path) as f:
        rows = list(csv.reader(io.StringIO(f.read()), delimiter="\t"))
    header, body = rows[0], rows[1:]
    return {name: [r[i] for r in body] for i, name in enumerate(header)}


class EmbeddingIndex:
    """Item and user vectors of a two-tower model, with their ids, biases and rated items."""

    @classmethod
    def from_arrays(cls, items: np.ndarray, users: np.ndarray, rated_indptr: np.ndarray, rated_indices: np.ndarray,
                    item_bias: np.ndarray | None = None, user_bias: np.ndarray | None = None,
                    item_count: np.ndarray | None = None) -> "EmbeddingIndex":
        """An index over vectors in memory (benchmarks, tests): ids are row numbers."""
        index = cls.__new__(cls)
        index.version_dir = "<memory>"
        index.items, index.users = items, users
        index.item_ids = [str(i) for i in range(len(items))]
        index.item_meta = {"id": index.item_ids}
        index.user_ids = [str(i) for i in range(len(users))]
        index.item_bias = np.zeros(len(items), np.float32) if item_bias is None else item_bias
        index.user_bias = np.zeros(len(users), np.float32) if user_bias is None else user_bias
        index.item_count = np.zeros(len(items), np.float32) if item_count is None else item_count
        index.rated_indptr, index.rated_indices = rated_indptr, rated_indices
        index.global_mean, index.rating_items, index.weights = 0.0, items, RankingWeights()
        index.label_range = (-np.inf, np.inf)
        index.item_scores = ItemScores(items, 1.0, index.item_bias, items, index.item_bias, index.item_count)
        index.id_types = {"user": "int", "item": "int"}
        index._item_position = {v: i for i, v in enumerate(index.item_ids)}
        index._user_position = {v: i for i, v in enumerate(index.user_ids)}
        index._similarity, index._typed_ids, index._saved_model = None, {}, None
        return index

    def __init__(self, version_dir: str):
        root = os.path.join(version_dir, EMBEDDINGS_DIR)
        if not tf.io.gfile.exists(os.path.join(root, "items.npy")):
            raise UserError(f"Model {version_dir} has no item vectors: similar items and recommendations need a "
                            f"two_tower model.")
        self.version_dir = version_dir
        self.items = load_npy(os.path.join(root, "items.npy"))
        self.item_meta = _read_tsv(os.path.join(root, "items.tsv"))
        self.item_ids = next(iter(self.item_meta.values()))
        self.item_bias = load_npy(os.path.join(root, "item_bias.npy"))
        self.item_count = load_npy(os.path.join(root, "item_count.npy"))
        self.users = load_npy(os.path.join(root, "users.npy"))
        self.user_ids = next(iter(_read_tsv(os.path.join(root, "users.tsv")).values()))
        self.user_bias = load_npy(os.path.join(root, "user_bias.npy"))
        with tf.io.gfile.GFile(os.path.join(root, "rated.npz"), "rb") as f:
            rated = np.load(io.BytesIO(f.read()))
            self.rated_indptr, self.rated_indices = rated["indptr"], rated["indices"]
        with tf.io.gfile.GFile(os.path.join(root, "scoring.json")) as f:
            scoring = json.load(f)
        self.global_mean = scoring["global_mean"]
        self.label_range = tuple(scoring.get("label_range", (-np.inf, np.inf)))
        rating_items_path = os.path.join(root, RATING_ITEMS_FILE)
        # Versions before the separate rating head rated with the retrieval vectors times `rating_scale` (1.0 before
        # the rating had its own scale).
        self.rating_items = (load_npy(rating_items_path) if tf.io.gfile.exists(rating_items_path)
                             else self.items * np.float32(scoring.get("rating_scale", 1.0)))
        # Versions trained before the weights were chosen by evaluation ranked by the model score plus log(1 + count).
        self.weights = RankingWeights(scoring.get("popularity_weight", 1.0), scoring.get("rating_weight", 0.0))
        # Versions trained before the retrieval objective rank by the rating's item bias, unscaled.
        ranking_bias_path = os.path.join(root, "ranking_bias.npy")
        ranking_bias = load_npy(ranking_bias_path) if tf.io.gfile.exists(ranking_bias_path) else self.item_bias
        self.item_scores = ItemScores(self.items, scoring.get("ranking_scale", 1.0), ranking_bias,
                                      self.rating_items, self.item_bias, self.item_count)
        self.id_types = _id_types(version_dir)
        self._item_position = {v: i for i, v in enumerate(self.item_ids)}
        self._user_position = {v: i for i, v in enumerate(self.user_ids)}
        self._similarity, self._typed_ids, self._saved_model = None, {}, None

    # ---------------------------------------------------------------- lookup
    def find_item(self, query: str, title: bool = False) -> int:
        """An item by id, or by title: case-insensitive, forgiving, with suggestions when ambiguous.

        A number is only ever an id (`similar 2143` must not quietly answer for
        a title holding "2143"); `title=True` searches titles only.
        """
        if not title and query in self._item_position:
            return self._item_position[query]
        titles = self.item_meta.get("title")
        if not title and (titles is None or _NUMBER.fullmatch(query)):
            examples = ", ".join(self.item_ids[:3])
            hint = f" To search titles for {query!r}, add --title (API: title=True)." if titles is not None else ""
            raise UserError(f"No item with id {query!r} in {self.version_dir} ({len(self.item_ids)} items, ids like "
                            f"{examples}).{hint}")
        if titles is None:
            raise UserError(f"Model {self.version_dir} has no titles to search (items.tsv has no title column).")
        wanted = _normal(query)
        normals = [_normal(t) for t in titles]
        exact = [i for i, t in enumerate(normals) if t == wanted or _without_year(t) == wanted]
        if len(exact) == 1:
            return exact[0]
        matches = exact or [i for i, t in enumerate(normals) if wanted in t]
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = "; ".join(f"{self.item_ids[i]}: {titles[i]}" for i in matches[:10])
            more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
            raise UserError(f"{len(matches)} titles match {query!r}: {listed}{more}. Give the id or more of the title.")
        close = difflib.get_close_matches(wanted, normals, n=5, cutoff=0.5)
        hint = "; ".join(f"{self.item_ids[normals.index(c)]}: {titles[normals.index(c)]}" for c in close)
        raise UserError(f"No title matches {query!r}." + (f" Did you mean: {hint}?" if hint else ""))

    @property
    def item_id_column(self) -> str:
        """The raw column the item ids come from (items.tsv's first column, e.g. movieId)."""
        return next(iter(self.item_meta))

    def item_position(self, item_id: str) -> int | None:
        return self._item_position.get(str(item_id))

    def user_position(self, user_id: str) -> int | None:
        return self._user_position.get(str(user_id))

    def typed_ids(self, role: str) -> pa.Array:
        """Every user ("user") or item ("item") id, typed like its source column, in row order."""
        if role not in self._typed_ids:
            self._typed_ids[role] = typed_ids(self.user_ids if role == "user" else self.item_ids, self.id_types[role])
        return self._typed_ids[role]

    def describe_item(self, i: int) -> dict:
        return {name: values[i] for name, values in self.item_meta.items()}

    # ---------------------------------------------------------------- queries
    @property
    def similarity_vectors(self) -> np.ndarray:
        """The item vectors `similar`, the projector and the map use (trainer/neighbours.py: centred)."""
        if self._similarity is None:
            self._similarity = similarity_vectors(self.items)
        return self._similarity

    def neighbours(self, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(len(rows), k) indices and scores of each item's k most similar items, best first (default: every item).

        The score is the cosine of the similarity vectors plus a small popularity term (trainer/neighbours.py).
        """
        return cosine_top_k(self.similarity_vectors, k, rows=rows, prior=popularity_prior(self.item_count))

    def similar(self, item: int, k: int = 10) -> list[tuple[int, float]]:
        """The k items most similar to `item`, best first, with their scores (see `neighbours`)."""
        top, scores = self.neighbours(k, np.array([item]))
        return list(zip(top[0].tolist(), scores[0].tolist()))

    def ranking_weights(self, popularity: float | None = None, rating: float | None = None) -> RankingWeights:
        """The weights chosen when the model was trained, with a request's overrides (None keeps the chosen)."""
        return self.weights.with_overrides(popularity, rating)

    def scorer(self, k: int, weights: RankingWeights | None = None) -> TopKScorer:
        return self.item_scores.scorer(weights or self.weights, k)

    def rated_by(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, indices) of the items each of `users` (positions) already rated."""
        return csr_rows(self.rated_indptr, self.rated_indices, users)

    def predicted_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The rating head's rating of items[u, j] by users[u] (positions), clipped to the train ratings' range."""
        return self.scored(self.users[users], self.user_bias[users], items, self.weights).rating

    def scored(self, vectors: np.ndarray, user_bias: np.ndarray, items: np.ndarray,
               weights: RankingWeights) -> "ScoredItems":
        """The ranking score of items[u, j] for the user with vectors[u] and user_bias[u] (0 for a new user), and
        its parts: the one `score` that `recommend`, `recommend-all` and the API report.

        score = model score + rating weight x predicted rating (before clipping) + popularity term: the scan's
        order (trainer/ranking_score.py) plus the user's constant terms, so it sorts the list and means the same
        for every user; `rating` is the predicted rating clipped to the train ratings' range (serving's).
        """
        raw = (np.einsum("ukd,ud->uk", self.rating_items[items], vectors) + self.item_bias[items]
               + np.asarray(user_bias)[:, None] + self.global_mean)
        model = self.item_scores.model_scores(vectors, items)
        popularity = self.item_scores.popularity_terms(items, weights)
        return ScoredItems(items, model + weights.rating * raw + popularity, model, np.clip(raw, *self.label_range),
                           popularity)

    def recommend(self, user_id: str, k: int = 10, weights: RankingWeights | None = None,
                  scorer: TopKScorer | None = None) -> "ScoredItems":
        """Top-k unrated items for one user, best first, with their ranking score and its parts."""
        user = self.user_position(user_id)
        if user is None:
            raise UserError(f"User {user_id} is not in the model (it knows {len(self.user_ids)} users). "
                            f"For a new user, give the items they rated: recommend --history ITEM_IDS_OR_FILE.")
        items = self._top_unrated(self.users[[user]], *self.rated_by(np.array([user])),
                                  scorer or self.scorer(k, weights))
        return self.scored(self.users[[user]], self.user_bias[[user]], items[None, :], weights or self.weights)[0]

    def recommend_for_history(self, item_ids: list[str], k: int = 10, weights: RankingWeights | None = None,
                              vector: np.ndarray | None = None) -> "ScoredItems":
        """Top-k items for a user unknown at training, from the ids of the items they rated (which are left out).

        The user's vector comes from the exported model's `user_vector`
        signature (its user tower reading the history); the ranking is the
        same as for known users, and a predicted rating has no user bias.
        `vector`: the user's vector when the caller already has it.
        """
        history = self.history(item_ids)
        vector = self.new_user_vector(list(history.known)) if vector is None else vector
        rated = np.array(sorted(history.positions), np.int64)
        items = self._top_unrated(vector, np.array([0, len(rated)]), rated, self.scorer(k, weights))
        return self.scored(vector, np.zeros(1, np.float32), items[None, :], weights or self.weights)[0]

    @staticmethod
    def _top_unrated(user_vector: np.ndarray, rated_indptr: np.ndarray, rated: np.ndarray,
                     scorer: TopKScorer) -> np.ndarray:
        """One user's top items by ranking score, best first, their rated items left out (short when few remain)."""
        top, scores = scorer.top_k(user_vector, rated_indptr, rated)
        return top[0][np.isfinite(scores[0])]

    def history(self, item_ids: list[str]) -> "History":
        """A new user's history as the model reads it: ids collapsed, unknown ones set aside (an error when none
        is known), and capped to HISTORY_MAX_ITEMS like a training history (the same seeded sample)."""
        from trainer.history import HISTORY_MAX_ITEMS, capped_rows  # Keras loads with it: not for `similar`

        distinct = list(dict.fromkeys(str(i).strip() for i in item_ids))
        known = [i for i in distinct if i in self._item_position]
        unknown = [i for i in distinct if i not in self._item_position]
        if not known:
            shown = ", ".join(distinct[:5]) + (" ..." if len(distinct) > 5 else "")
            raise UserError(f"None of the {len(distinct)} history item id(s) ({shown}) is in the model's catalogue "
                            f"({len(self.item_ids)} items, e.g. {', '.join(self.item_ids[:3])}).")
        positions = np.array([self._item_position[i] for i in known], np.int64)
        _, sample = capped_rows(np.array([0, len(positions)]), positions, HISTORY_MAX_ITEMS)
        history = History(len(item_ids), tuple(known), tuple(unknown), tuple(positions.tolist()),
                          tuple(self.item_ids[i] for i in sample.tolist()))
        if unknown:
            log.warning("%s", history.unknown_note)
        return history

    def new_user_vector(self, item_ids: list[str]) -> np.ndarray:
        """(1, dim): the vector of a user the model never saw, from the ids of the items they rated."""
        history = self.history(item_ids)
        if self._saved_model is None:  # loading the SavedModel takes seconds: once per index
            self._saved_model = tf.saved_model.load(self.version_dir)  # kept: its signatures need its variables
        signature = self._saved_model.signatures.get("user_vector")
        if signature is None:
            raise UserError(f"Model {self.version_dir} cannot describe a new user by their history: it was "
                            f"trained without `user_history: true` (model section of the spec).")
        return signature(item_ids=tf.constant(list(history.read)))["user_vector"].numpy()


@dataclasses.dataclass(frozen=True)
class ScoredItems:
    """Items (positions in the index), their ranking score and its parts: arrays of one shape, (users, k) or (k,)
    for one user's list (`scored(...)[0]`), best first."""

    items: np.ndarray
    score: np.ndarray
    model: np.ndarray
    rating: np.ndarray  # predicted rating, clipped to the train ratings' range
    popularity: np.ndarray

    def __getitem__(self, row: int) -> "ScoredItems":
        return ScoredItems(*(getattr(self, f.name)[row] for f in dataclasses.fields(self)))

    def __len__(self) -> int:
        return len(self.items)


@dataclasses.dataclass(frozen=True)
class History:
    """A new user's history: `given` ids, the distinct `known` ones (`positions` in the index) and `unknown` ones,
    and the `read` ids (at most HISTORY_MAX_ITEMS of the known) that the user tower reads."""

    given: int
    known: tuple[str, ...]
    unknown: tuple[str, ...]
    positions: tuple[int, ...]
    read: tuple[str, ...]

    @property
    def unknown_note(self) -> str:
        shown = ", ".join(self.unknown[:10]) + (" ..." if len(self.unknown) > 10 else "")
        return (f"{len(self.unknown)} of {len(self.known) + len(self.unknown)} history ids unknown to the model, "
                f"left out: {shown}")

    def describe(self) -> str:
        """"a new user with 12 rated item(s)", and what was left out or capped."""
        notes = [f"{self.given - len(self.known) - len(self.unknown)} repeated id(s) counted once"] \
            if self.given > len(self.known) + len(self.unknown) else []
        notes += [f"{len(self.unknown)} unknown id(s) left out"] if self.unknown else []
        notes += [f"the user tower reads {len(self.read)} of them, as in training"] \
            if len(self.read) < len(self.known) else []
        return f"a new user with {len(self.known)} rated item(s)" + (f" ({'; '.join(notes)})" if notes else "")


def _id_types(version_dir: str) -> dict[str, str]:
    """The types of the user and item id columns in the source table ("int", "float", "string")."""
    spec = spec_from_dict(mf.read_json(os.path.join(version_dir, mf.MANIFEST))["spec"])
    return {role: spec.column(column).type for role, column in spec.model.id_columns(spec).items()}


_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _without_year(title: str) -> str:
    return re.sub(r"\s*\(\d{4}\)\s*$", "", title)


# -------------------------------------------------------------------- what the commands print
def print_similar(index: EmbeddingIndex, query: str, k: int, title: bool = False) -> None:
    item = index.find_item(query, title)
    print(f"Most similar to {_label(index, item)} (score: cosine of centred item vectors "
          f"+ {SIMILAR_POPULARITY_WEIGHT:g} x log(1 + ratings of the item)):")
    for rank, (i, score) in enumerate(index.similar(item, k), 1):
        print(f"  {rank:>2}. {score:6.3f}  {_label(index, i)}")


def print_recommendations(index: EmbeddingIndex, user_id: str | None, k: int, weights: RankingWeights,
                          history: list[str] | None = None) -> None:
    """The top k for a known user (or a new one, by `history`) with the score they are ranked by, its parts, and
    the predicted rating."""
    if history is None:
        recs, who = index.recommend(user_id, k, weights), f"user {user_id}"
    else:
        given = index.history(history)
        recs, who = index.recommend_for_history(list(given.known), k, weights), given.describe()
    print(f"Top {len(recs)} for {who} (excluding the items they rated), ranked by score = model score "
          f"+ {weights.rating:g} x predicted rating + {weights.popularity:g} x log(1 + ratings of the item):")
    print(f"  {'rank':>4}  {'score':>7}  {'model':>7}  {'rating':>6}  {'popul.':>7}  item")
    for rank, (i, score, m, rating, p) in enumerate(zip(recs.items, recs.score, recs.model, recs.rating,
                                                        recs.popularity), 1):
        print(f"  {rank:>4}  {score:7.3f}  {m:7.3f}  {rating:6.2f}  {p:7.3f}  {_label(index, int(i))}")


def _label(index: EmbeddingIndex, i: int) -> str:
    meta = index.describe_item(i)
    parts = [f"[{index.item_ids[i]}]"] + [meta[k] for k in ("title", "genres") if k in meta]
    return "  ".join(parts)
