"""The Python API: every step as a function taking a typed config, for notebooks and scripts.

    import embedflow as ef

    ef.sample_data("data/ml-sample", ef.RatingsSample(users=300, movies=500, ratings=20_000))
    prep = ef.preprocess(ef.PreprocessConfig(input="data/ml-sample", output="runs/prep"))
    run = ef.train(ef.TrainConfig(input=prep.output, job_dir="runs/job", epochs=5))
    ef.recommend(run.version_dir, user="7", k=5)

The functions are the commands' own code (the CLI only turns flags into the
same configs), and print what the commands print: the product's progress
lines and one line per training epoch, none of TensorFlow's Python warnings
(embedflow/cli.py: api_logging; a caller's own logging set-up wins).  Each imports what it needs when called, so `import embedflow`
loads neither TensorFlow nor Beam.  Bad input raises `embedflow.UserError`
with the same one-paragraph message the CLI prints.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from beam_jobs.config import PreprocessConfig
from embedflow.cli import api_logging
from stage_contracts.arguments import check_argument, shown
from stage_contracts.errors import UserError
from embedding_uses.queries import RecommendQuery, SimilarQuery

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0.statistics_pb2 import DatasetFeatureStatisticsList

    from embedflow.sample_tables import HousingSample, RatingsSample
    from trainer.config import TrainConfig
    from trainer.task import TrainResult


@dataclasses.dataclass(frozen=True)
class Preprocessed:
    """A finished preprocess output: its folder and manifest (spec, inputs, row counts, vocabulary sizes)."""

    output: str
    manifest: dict

    @property
    def counts(self) -> dict:
        """Rows read, kept per split and rejected per reason."""
        return self.manifest["counts"]

    def statistics(self) -> "DatasetFeatureStatisticsList | None":
        return statistics(self.output)


@dataclasses.dataclass(frozen=True)
class Item:
    """One item of a result list, in ranking order: its id, a figure, and its attributes (title, genres, ...).

    `score` is the cosine similarity for `similar`; for `recommend` it is the
    ranking score the list is ordered by, the same number as `recommend`'s
    table and `recommend-all`'s `score` column (embedding_uses/ranking_score.py), and
    `predicted_rating` is the rating head's rating (None for `similar`).
    """

    id: str
    score: float
    attributes: dict[str, str]
    predicted_rating: float | None = None


def sample_data(output: str, sample: "RatingsSample | HousingSample | None" = None) -> str:
    """Write seeded sample data to `output` (default: MovieLens-style ratings shaped like ml-latest-small)."""
    from embedflow.sample_tables import HousingSample, RatingsSample, write_housing_sample, write_ratings_sample
    from embedflow.sample_housing_wide import WideHousingSample, write_wide_housing_sample

    api_logging()
    output = check_argument("sample_data", "output", output, "output_folder")
    if isinstance(sample, HousingSample):
        write_housing_sample(output, sample)
    elif isinstance(sample, WideHousingSample):
        write_wide_housing_sample(output, sample)
    elif sample is None or isinstance(sample, RatingsSample):
        write_ratings_sample(output, sample or RatingsSample())
    else:
        raise UserError(f"sample_data: sample must be a RatingsSample, HousingSample or WideHousingSample (or None), "
                        f"got {shown(sample)}.")
    return output


def preprocess(config: PreprocessConfig) -> Preprocessed:
    """Run the Beam + TFT preprocess job (DirectRunner unless `config.beam_args` say otherwise)."""
    _require(config, PreprocessConfig, "preprocess")
    from beam_jobs.preprocess import run

    return Preprocessed(config.output, run(config))


def train(config: "TrainConfig") -> "TrainResult":
    """Train, evaluate and export a model version; the result has `version_dir` and `metrics`."""
    from trainer.config import TrainConfig

    _require(config, TrainConfig, "train")
    from trainer.task import train as train_model

    return train_model(config)


def describe(spec: str = "movielens", preprocessed: str | None = None) -> str:
    """A spec as resolved (features, transforms, embedding dimensions); with a preprocess output, its actual
    sizes and its splits' statistics."""
    check_argument("describe", "spec", spec, "text")
    check_argument("describe", "preprocessed", preprocessed, "text", optional=True)
    from embedflow.describe_spec import describe as describe_spec, describe_statistics
    from features.spec import load_spec

    if preprocessed is None:
        return describe_spec(load_spec(spec))
    from stage_contracts.manifest import read_manifest

    return describe_spec(load_spec(spec), read_manifest(preprocessed)) + "\n" + describe_statistics(preprocessed)


def statistics(preprocessed: str) -> "DatasetFeatureStatisticsList | None":
    """The train and eval statistics of a preprocess output (TFDV's proto), or None when it was written without
    them (`statistics=False`); a folder that is not a finished preprocess output is a UserError."""
    from stage_contracts.manifest import read_manifest
    from stage_contracts.statistics import load_statistics

    read_manifest(check_argument("statistics", "preprocessed", preprocessed, "text"))  # names a missing folder
    return load_statistics(preprocessed)


def similar(model: str, item: str, k: int = 10, title: bool = False) -> list[Item]:
    """The k items most similar to `item`: cosine of centred item vectors plus a small popularity term
    (embedding_uses/neighbours.py); `model` is a version folder or a model dir (its serving version).  `item` is an id; a
    text that is not a number may also be (part of) a title; `title=True` reads it as a title only."""
    query = SimilarQuery(model, item, k, title)
    index = _index(query.model)
    return [_item(index, i, score) for i, score in index.similar(index.find_item(query.item, query.title), query.k)]


def recommend(model: str, user: str | None = None, k: int = 10, popularity_weight: float | None = None,
              history: list[str] | str | None = None, rating_weight: float | None = None) -> list[Item]:
    """Top-k items `user` has not rated, best first, with their ranking score and predicted rating.

    For a user the model never saw, pass `history` (the ids of the items they
    rated) instead of `user`: their vector comes from the model's user tower.
    `history` is a list of ids, a text of comma-separated ids ("417" is one
    id), or a history file, read as `recommend --history` reads it
    (embedding_uses/queries.py).  The ranking's weights are the model's unless given
    (embedding_uses/ranking_score.py).  Every argument is checked first (UserError).
    """
    query = RecommendQuery(model, user, history, k, popularity_weight, rating_weight)
    index = _index(query.model)
    weights = index.ranking_weights(query.popularity_weight, query.rating_weight)
    recs = (index.recommend(query.user, query.k, weights) if query.history is None
            else index.recommend_for_history(query.history_ids(index.item_id_column), query.k, weights))
    return [_item(index, int(i), score, rating) for i, score, rating in zip(recs.items, recs.score, recs.rating)]


def _require(config: object, cls: type, function: str) -> None:
    api_logging()
    if not isinstance(config, cls):
        raise UserError(f"{function}: config must be a {cls.__name__} (its fields are checked when it is made), got "
                        f"{shown(config)}.")


def _index(model: str):
    api_logging()
    from stage_contracts.model_dir import resolve_version
    from embedding_uses.recommend import EmbeddingIndex

    return EmbeddingIndex(resolve_version(model))


def _item(index, i: int, score: float, rating: float | None = None) -> Item:
    _, *attributes = index.describe_item(i).items()  # the id column first, then the side table's attributes
    return Item(str(index.item_ids[i]), float(score), dict(attributes), None if rating is None else float(rating))
