"""A model version's `embeddings/` files as arrays: what `EmbeddingIndex` (embedding_uses/recommend.py) reads, loaded once.

`EmbeddingFiles.load` reads the files trainer/embeddings.py writes, filling
in what older versions did not write; `EmbeddingFiles.from_arrays` makes the
same thing from vectors in memory (benchmarks, tests), with row numbers as ids.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os

import numpy as np
import tensorflow as tf

from stage_contracts import manifest as mf
from stage_contracts.errors import UserError
from features.spec import spec_from_dict
from embedding_uses.layout import EMBEDDINGS_DIR, RATING_ITEMS_FILE, load_npy
from embedding_uses.ranking_score import ItemScores, RankingWeights


@dataclasses.dataclass(frozen=True)
class EmbeddingFiles:
    """Item and user vectors of a two-tower model, with their ids, biases, rated items and scoring settings."""

    version_dir: str
    items: np.ndarray  # (items, dim) retrieval vectors
    item_meta: dict[str, list[str]]  # items.tsv's columns: the id column first, then title, genres, ...
    item_bias: np.ndarray
    item_count: np.ndarray  # train ratings per item
    users: np.ndarray  # (users, dim)
    user_ids: list[str]
    user_bias: np.ndarray
    rated_indptr: np.ndarray  # CSR of the items each user rated in training
    rated_indices: np.ndarray
    global_mean: float
    label_range: tuple[float, float]  # the train ratings' range, which predicted ratings are clipped to
    rating_items: np.ndarray  # the rating head's item vectors
    weights: RankingWeights  # the ranking weights chosen when the model was trained
    ranking_scale: float
    ranking_bias: np.ndarray
    id_types: dict[str, str]  # "user"/"item" -> the source column's type ("int", "float", "string")

    @property
    def item_ids(self) -> list[str]:
        return next(iter(self.item_meta.values()))

    def item_scores(self) -> ItemScores:
        """The parts of the ranking score that depend on the item alone (embedding_uses/ranking_score.py)."""
        return ItemScores(self.items, self.ranking_scale, self.ranking_bias, self.rating_items, self.item_bias,
                          self.item_count)

    @classmethod
    def load(cls, version_dir: str) -> "EmbeddingFiles":
        """The files of `version_dir/embeddings/`; a model without item vectors (not two_tower) is a UserError."""
        root = os.path.join(version_dir, EMBEDDINGS_DIR)
        if not tf.io.gfile.exists(os.path.join(root, "items.npy")):
            raise UserError(f"Model {version_dir} has no item vectors: similar items and recommendations need a "
                            f"two_tower model.")
        items = load_npy(os.path.join(root, "items.npy"))
        item_bias = load_npy(os.path.join(root, "item_bias.npy"))
        with tf.io.gfile.GFile(os.path.join(root, "rated.npz"), "rb") as f:
            rated = np.load(io.BytesIO(f.read()))
            rated_indptr, rated_indices = rated["indptr"], rated["indices"]
        with tf.io.gfile.GFile(os.path.join(root, "scoring.json")) as f:
            scoring = json.load(f)
        rating_items_path = os.path.join(root, RATING_ITEMS_FILE)
        ranking_bias_path = os.path.join(root, "ranking_bias.npy")
        return cls(
            version_dir=version_dir, items=items, item_meta=_read_tsv(os.path.join(root, "items.tsv")),
            item_bias=item_bias, item_count=load_npy(os.path.join(root, "item_count.npy")),
            users=load_npy(os.path.join(root, "users.npy")),
            user_ids=next(iter(_read_tsv(os.path.join(root, "users.tsv")).values())),
            user_bias=load_npy(os.path.join(root, "user_bias.npy")),
            rated_indptr=rated_indptr, rated_indices=rated_indices, global_mean=scoring["global_mean"],
            label_range=tuple(scoring.get("label_range", (-np.inf, np.inf))),
            # Versions before the separate rating head rated with the retrieval vectors times `rating_scale` (1.0
            # before the rating had its own scale).
            rating_items=(load_npy(rating_items_path) if tf.io.gfile.exists(rating_items_path)
                          else items * np.float32(scoring.get("rating_scale", 1.0))),
            # Versions trained before the weights were chosen by evaluation ranked by the model score plus
            # log(1 + count).
            weights=RankingWeights(scoring.get("popularity_weight", 1.0), scoring.get("rating_weight", 0.0)),
            ranking_scale=scoring.get("ranking_scale", 1.0),
            # Versions trained before the retrieval objective rank by the rating's item bias, unscaled.
            ranking_bias=load_npy(ranking_bias_path) if tf.io.gfile.exists(ranking_bias_path) else item_bias,
            id_types=_id_types(version_dir))

    @classmethod
    def from_arrays(cls, items: np.ndarray, users: np.ndarray, rated_indptr: np.ndarray, rated_indices: np.ndarray,
                    item_bias: np.ndarray | None = None, user_bias: np.ndarray | None = None,
                    item_count: np.ndarray | None = None) -> "EmbeddingFiles":
        """Vectors in memory (benchmarks, tests): ids are row numbers, typed "int"; biases and counts default to 0."""
        item_bias = np.zeros(len(items), np.float32) if item_bias is None else item_bias
        return cls(
            version_dir="<memory>", items=items, item_meta={"id": [str(i) for i in range(len(items))]},
            item_bias=item_bias,
            item_count=np.zeros(len(items), np.float32) if item_count is None else item_count,
            users=users, user_ids=[str(i) for i in range(len(users))],
            user_bias=np.zeros(len(users), np.float32) if user_bias is None else user_bias,
            rated_indptr=rated_indptr, rated_indices=rated_indices, global_mean=0.0, label_range=(-np.inf, np.inf),
            rating_items=items, weights=RankingWeights(), ranking_scale=1.0, ranking_bias=item_bias,
            id_types={"user": "int", "item": "int"})


def _read_tsv(path: str) -> dict[str, list[str]]:
    with tf.io.gfile.GFile(path) as f:
        rows = list(csv.reader(io.StringIO(f.read()), delimiter="\t"))
    header, body = rows[0], rows[1:]
    return {name: [r[i] for r in body] for i, name in enumerate(header)}


def _id_types(version_dir: str) -> dict[str, str]:
    """The types of the user and item id columns in the source table ("int", "float", "string")."""
    spec = spec_from_dict(mf.read_json(os.path.join(version_dir, mf.MANIFEST))["spec"])
    return {role: spec.column(column).type for role, column in spec.model.id_columns(spec).items()}
