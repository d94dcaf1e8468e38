"""Similar items and top-K recommendations from an exported model version's embeddings.

`embedflow similar` and `embedflow recommend` read `embeddings/` of a model
version (see trainer/embeddings.py); no training code or data is needed.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from stage_contracts.errors import UserError
from embedding_uses.embedding_files import EmbeddingFiles
from embedding_uses.id_column import IdColumn
from embedding_uses.rated import csr_rows
from embedding_uses.neighbours import SIMILAR_POPULARITY_WEIGHT, cosine_top_k, popularity_prior, similarity_vectors
from embedding_uses.new_users import History, NewUsers
from embedding_uses.ranker import Ranker, ScoredItems
from embedding_uses.ranking_score import RankingWeights
from embedding_uses.title_search import find_item
from embedding_uses.topk import TopKScorer

class EmbeddingIndex:
    """A model version's item and user vectors with their ids: what `similar`, `recommend`, `recommend-all`, the
    API and the pictures read.

    Built from the loaded files (embedding_uses/embedding_files.py: a version folder,
    or vectors in memory through `from_arrays`); the jobs are its parts' own:
    ids and their types (embedding_uses/id_column.py), title search
    (embedding_uses/title_search.py), ranking (embedding_uses/ranker.py) and new users'
    vectors (embedding_uses/new_users.py).  The files' arrays are its attributes.
    """

    def __init__(self, source: "str | EmbeddingFiles"):
        """`source`: a model version folder, or files already loaded."""
        files = source if isinstance(source, EmbeddingFiles) else EmbeddingFiles.load(source)
        self.files = files
        self.version_dir, self.items, self.item_meta = files.version_dir, files.items, files.item_meta
        self.item_ids, self.item_bias, self.item_count = files.item_ids, files.item_bias, files.item_count
        self.users, self.user_ids, self.user_bias = files.users, files.user_ids, files.user_bias
        self.rated_indptr, self.rated_indices = files.rated_indptr, files.rated_indices
        self.global_mean, self.label_range, self.rating_items = files.global_mean, files.label_range, files.rating_items
        self.weights, self.id_types = files.weights, files.id_types
        self._ids = {"item": IdColumn(files.item_ids, files.id_types["item"]),
                     "user": IdColumn(files.user_ids, files.id_types["user"])}
        self._ranker = Ranker(files)
        self.item_scores = self._ranker.item_scores
        self._new_users = NewUsers(files.version_dir, self._ids["item"])
        self._similarity = None

    @classmethod
    def from_arrays(cls, items: np.ndarray, users: np.ndarray, rated_indptr: np.ndarray, rated_indices: np.ndarray,
                    item_bias: np.ndarray | None = None, user_bias: np.ndarray | None = None,
                    item_count: np.ndarray | None = None) -> "EmbeddingIndex":
        """An index over vectors in memory (benchmarks, tests): ids are row numbers."""
        return cls(EmbeddingFiles.from_arrays(items, users, rated_indptr, rated_indices, item_bias, user_bias,
                                              item_count))

    # ---------------------------------------------------------------- lookup
    def find_item(self, query: str, title: bool = False) -> int:
        """An item by id, or by title (embedding_uses/title_search.py); a number is only ever an id."""
        return find_item(self._ids["item"], self.item_meta.get("title"), query, title, self.version_dir)

    @property
    def item_id_column(self) -> str:
        """The raw column the item ids come from (items.tsv's first column, e.g. movieId)."""
        return next(iter(self.item_meta))

    def item_position(self, item_id: str) -> int | None:
        return self._ids["item"].position(item_id)

    def user_position(self, user_id: str) -> int | None:
        return self._ids["user"].position(user_id)

    def typed_ids(self, role: str) -> pa.Array:
        """Every user ("user") or item ("item") id, typed like its source column, in row order."""
        return self._ids[role].typed()

    @functools.cached_property
    def item_titles(self) -> pa.Array:
        """Every item's title as one Arrow array, made once: recommend-all takes each block's titles from it (a
        list of 473K titles converted per block of 1,024 users: ~35 ms a block, ~35 s for a million users)."""
        return pa.array(self.item_meta["title"], pa.string())

    def describe_item(self, i: int) -> dict:
        return {name: values[i] for name, values in self.item_meta.items()}

    # ---------------------------------------------------------------- queries
    @property
    def similarity_vectors(self) -> np.ndarray:
        """The item vectors `similar`, the projector and the map use (embedding_uses/neighbours.py: centred)."""
        if self._similarity is None:
            self._similarity = similarity_vectors(self.items)
        return self._similarity

    def neighbours(self, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(len(rows), k) indices and scores of each item's k most similar items, best first (default: every item).

        The score is the cosine of the similarity vectors plus a small popularity term (embedding_uses/neighbours.py).
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
        return self._ranker.scorer(k, weights or self.weights)

    def rated_by(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, indices) of the items each of `users` (positions) already rated."""
        return csr_rows(self.rated_indptr, self.rated_indices, users)

    def predicted_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The rating head's rating of items[u, j] by users[u] (positions), clipped to the train ratings' range."""
        return self.scored(self.users[users], self.user_bias[users], items, self.weights).rating

    def scored(self, vectors: np.ndarray, user_bias: np.ndarray, items: np.ndarray,
               weights: RankingWeights) -> ScoredItems:
        """The ranking score of items[u, j] for the user with vectors[u] and user_bias[u] (0 for a new user), and
        its parts: the one `score` that `recommend`, `recommend-all` and the API report (embedding_uses/ranker.py)."""
        return self._ranker.scored(vectors, user_bias, items, weights)

    def recommend(self, user_id: str, k: int = 10, weights: RankingWeights | None = None,
                  scorer: TopKScorer | None = None) -> ScoredItems:
        """Top-k unrated items for one user, best first, with their ranking score and its parts."""
        user = self.user_position(user_id)
        if user is None:
            raise UserError(f"User {user_id} is not in the model (it knows {len(self.user_ids)} users). "
                            f"For a new user, give the items they rated: recommend --history ITEM_IDS_OR_FILE.")
        items = self._ranker.top_unrated(self.users[[user]], *self.rated_by(np.array([user])),
                                         scorer or self.scorer(k, weights))
        return self.scored(self.users[[user]], self.user_bias[[user]], items[None, :], weights or self.weights)[0]

    def recommend_for_history(self, item_ids: list[str], k: int = 10, weights: RankingWeights | None = None,
                              vector: np.ndarray | None = None) -> ScoredItems:
        """Top-k items for a user unknown at training, from the ids of the items they rated (which are left out).

        The user's vector comes from the exported model's `user_vector`
        signature (its user tower reading the history); the ranking is the
        same as for known users, and a predicted rating has no user bias.
        `vector`: the user's vector when the caller already has it.
        """
        history = self.history(item_ids)
        vector = self.new_user_vector(list(history.known)) if vector is None else vector
        rated = np.array(sorted(history.positions), np.int64)
        items = self._ranker.top_unrated(vector, np.array([0, len(rated)]), rated, self.scorer(k, weights))
        return self.scored(vector, np.zeros(1, np.float32), items[None, :], weights or self.weights)[0]

    def history(self, item_ids: list[str]) -> History:
        """A new user's history as the model reads it (embedding_uses/new_users.py)."""
        return self._new_users.history(item_ids)

    def new_user_vector(self, item_ids: list[str]) -> np.ndarray:
        """(1, dim): the vector of a user the model never saw, from the ids of the items they rated."""
        return self._new_users.vector(item_ids)

    @property
    def _saved_model(self):
        """The SavedModel `new_user_vector` loaded (None before)."""
        return self._new_users.saved_model


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
