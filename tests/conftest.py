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
    from embedflow.sample_tables import RatingsSample, write_ratings_sample

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
    from beam_jobs.config import PreprocessConfig

    out = str(tmp_path_factory.mktemp("preprocessed") / "out")
    manifest = preprocess.run(PreprocessConfig(output=out, input=ratings_sample, spec=movielens_spec))
    return out, manifest


@pytest.fixture(scope="session")
def trained(preprocessed, tmp_path_factory):
    from trainer import task
    from trainer.config import TrainConfig

    job = str(tmp_path_factory.mktemp("job"))
    return task.train(TrainConfig(input=preprocessed[0], job_dir=job, model_dir=os.path.join(job, "model"), seed=3))


@pytest.fixture(scope="session")
def trained_briefly(preprocessed, tmp_path_factory):
    """Two epochs in one process, in memory: the reference the streaming and multi-worker runs must match."""
    from trainer import task
    from trainer.config import TrainConfig

    job = str(tmp_path_factory.mktemp("job_brief"))
    return task.train(TrainConfig(input=preprocessed[0], job_dir=job, model_dir=os.path.join(job, "model"), seed=3,
                                  epochs=BRIEF_EPOCHS))


@pytest.fixture(scope="session")
def shop_prices(tmp_path_factory) -> str:
    """The shop's prices (tests/shop.py) preprocessed once, the DNN + trees blend as its model: test_trees trains the
    blend on it and other types on copies naming theirs (with_model_settings), as test_wide does."""
    from shop import preprocessed_prices

    return preprocessed_prices(str(tmp_path_factory.mktemp("shop")), 800,
                               "{type: dnn_and_trees, hidden_units: [16], epochs: 4, max_depth: [3, 4]}")


BRIEF_EPOCHS = 2
# Two epochs are far from converged, so the examples' order moves the metrics: in memory, seeds 3, 4 and 5 gave eval
# RMSE 0.655, 0.678 and 0.706 (7.8% apart) and recall@10 0.540, 0.547 and 0.522 on this sample; in a full-suite
# run (a loaded machine, other batch boundaries) two workers and one process came out 10.8% apart in RMSE, and the
# streamed and in-memory models 0.066 apart in recall@10 (0.510 vs 0.577).  A model that did not train, or trained
# on the wrong data, is much further off (the global mean's RMSE is ~1.0).
RMSE_NOISE = 0.15  # relative
# Asynchronous parameter-server steps add stale gradients to that: in a CI run (fresh clone, `pytest -m slow`) the
# cluster's model came out at 0.757 against the single process's 0.654 (15.7%); reruns of the test alone, and the
# session's earlier slow run, passed within 15%.  Still far from a model that did not train (~1.0, 53% off).
ASYNC_RMSE_NOISE = 0.25  # relative
RECALL_NOISE = 0.10  # absolute


def assert_equivalent_models(version_dir: str, metrics: dict, reference_dir: str, reference: dict,
                             rmse_noise: float = RMSE_NOISE) -> None:
    """Two exports of the same model trained two ways: the same serving signatures (names, inputs, outputs), the
    same number of epochs, and eval metrics within the noise of the examples' order (`rmse_noise`, relative)."""
    import tensorflow as tf

    def signatures(folder):
        loaded = tf.saved_model.load(folder)
        return {name: (sorted((k, str(v.dtype), tuple(v.shape)) for k, v in fn.structured_input_signature[1].items()),
                       sorted(fn.structured_outputs)) for name, fn in loaded.signatures.items()}

    assert signatures(version_dir) == signatures(reference_dir)
    assert metrics["epochs_trained"] == reference["epochs_trained"]
    rmse, reference_rmse = metrics["model"]["rmse"], reference["model"]["rmse"]
    assert abs(rmse - reference_rmse) <= rmse_noise * reference_rmse, (rmse, reference_rmse)
    if "ranking" in reference:
        recall, reference_recall = metrics["ranking"]["model"]["recall@10"], reference["ranking"]["model"]["recall@10"]
        assert abs(recall - reference_recall) <= RECALL_NOISE, (recall, reference_recall)


def with_model_settings(prep_dir, copy_dir, **settings) -> str:
    """A copy of a preprocess output whose spec's model section has `settings` changed, as a spec with them would have
    been preprocessed (the model section changes nothing the job writes but the manifest): ablations and other model
    types train on it without a second Beam/TFT job."""
    import json
    import shutil

    shutil.copytree(prep_dir, copy_dir)
    path = os.path.join(copy_dir, "manifest.json")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["spec"]["model"].update(settings)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    return str(copy_dir)


def read_planted_groups(sample_dir: str) -> dict[str, int]:
    with open(os.path.join(sample_dir, "planted_movie_groups.csv"), encoding="utf-8") as f:
        next(f)
        return {line.split(",")[0]: int(line.split(",")[1]) for line in f}
