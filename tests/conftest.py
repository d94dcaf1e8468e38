"""Shared, session-scoped fixtures: each Beam/TFT pipeline and each training run happens once.

TensorFlow's import and each pipeline cost seconds of fixed overhead, so the
sample data, its preprocess output and the trained model are built once and
read by every test that needs them.
"""

from __future__ import annotations

import os

import pytest

import features  # noqa: F401  (TensorFlow's environment: Keras 2, quiet start-up; before anything imports TF)

# Planted tastes stronger than real ratings' (taste=2), so the tests can check the structure the model finds;
# tests/test_ranking.py checks retrieval on the realistic shape (taste=1).
SAMPLE = dict(users=800, movies=400, ratings=60_000, groups=6, seed=11, taste=2.0)


@pytest.fixture(scope="session")
def ratings_sample(tmp_path_factory):
    from beam_jobs.sample_data import RatingsSample, write_ratings_sample

    folder = str(tmp_path_factory.mktemp("ratings_sample"))
    write_ratings_sample(folder, RatingsSample(**SAMPLE))
    return folder


@pytest.fixture(scope="session")
def movielens_spec():
    from features.spec import load_spec

    return load_spec("movielens")


@pytest.fixture(scope="session")
def preprocessed(ratings_sample, movielens_spec, tmp_path_factory):
    from beam_jobs import preprocess

    out = str(tmp_path_factory.mktemp("preprocessed") / "out")
    manifest = preprocess.run(movielens_spec, ratings_sample, out)
    return out, manifest


@pytest.fixture(scope="session")
def trained(preprocessed, tmp_path_factory):
    from trainer import task
    from trainer.config import TrainConfig

    job = str(tmp_path_factory.mktemp("job"))
    return task.train(TrainConfig(input=preprocessed[0], job_dir=job, model_dir=os.path.join(job, "model"), seed=3))


def read_planted_groups(sample_dir: str) -> dict[str, int]:
    with open(os.path.join(sample_dir, "planted_movie_groups.csv"), encoding="utf-8") as f:
        next(f)
        return {line.split(",")[0]: int(line.split(",")[1]) for line in f}
