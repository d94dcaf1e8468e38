"""Training on planted data: beats the baselines, embeddings recover the planted groups."""

import json
import os

import numpy as np
import pytest

from conftest import read_planted_groups
from embedding_uses.layout import load_npy
from embedding_uses.neighbours import cosine_top_k, neighbour_label_share


def test_model_beats_bias_baseline_by_ten_percent(trained):
    m = trained.metrics
    assert m["model"]["rmse"] <= 0.9 * m["baseline_bias"]["rmse"], m
    assert m["baseline_bias"]["rmse"] < m["baseline_mean"]["rmse"]
    assert m["model"]["mae"] < m["baseline_bias"]["mae"]


def test_version_folder_layout(trained):
    version = trained.version_dir
    assert os.path.basename(version).isdigit()
    for name in ("saved_model.pb", "variables", "metrics.json", "manifest.json", "embeddings/items.npy",
                 "embeddings/items.tsv", "embeddings/users.npy", "embeddings/tables/movie_id.npy",
                 "embeddings/tables/movie_id.vocab"):
        assert os.path.exists(os.path.join(version, name)), name
    with open(os.path.join(version, "metrics.json")) as f:
        metrics = json.load(f)
    assert set(metrics["model"]) == {"rmse", "mae"} and "baseline_bias" in metrics


def test_item_neighbours_share_planted_group(trained, ratings_sample):
    root = os.path.join(trained.version_dir, "embeddings")
    vectors = load_npy(os.path.join(root, "items.npy"))
    with open(os.path.join(root, "items.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        ids = [line.split("\t")[0] for line in f]
    assert header == ["movieId", "title", "genres"]
    planted = read_planted_groups(ratings_sample)
    top, _ = cosine_top_k(vectors, 10)  # the raw tower vectors: what the model learnt, before `similar` reads it
    share, chance = neighbour_label_share(top, np.array([planted[i] for i in ids]))
    assert share > 0.8 and share > 4 * chance, (share, chance)


def test_cosine_top_k_matches_brute_force():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8))
    top, scores = cosine_top_k(vectors, 5, block=64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    np.testing.assert_array_equal(top, np.argsort(-sim, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.sort(sim, axis=1)[:, ::-1][:, :5], rtol=1e-5)
    prior = rng.normal(size=300).astype(np.float32)
    top, scores = cosine_top_k(vectors, 5, block=64, rows=np.array([7, 250]), prior=prior)
    expected = sim[[7, 250]] + prior[None, :]
    np.testing.assert_array_equal(top, np.argsort(-expected, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.sort(expected, axis=1)[:, ::-1][:, :5], rtol=1e-5)


def test_top_k_scorer_is_exact_with_rated_items_excluded():
    from embedding_uses.topk import TopKScorer, brute_force_top_k

    rng = np.random.default_rng(1)
    for n_items in (23, 400, 3001):
        items = rng.normal(size=(n_items, 6)).astype(np.float32)
        bias = rng.normal(size=n_items).astype(np.float32)
        users = rng.normal(size=(40, 6)).astype(np.float32)
        rated = [rng.choice(n_items, size=rng.integers(0, 12), replace=False) for _ in range(40)]
        indptr = np.r_[0, np.cumsum([len(r) for r in rated])]
        got, got_scores = TopKScorer(items, bias, k=10, group_size=16).top_k(users, indptr, np.concatenate(rated))
        want, want_scores = brute_force_top_k(users, items, bias, 10, rated)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5)


@pytest.fixture(scope="module")
def same_seed_runs(preprocessed, tmp_path_factory):
    """Two one-epoch runs on the same data with the same seed, one pair for the two tests below: the first is told
    its model dir, the second finds it as Vertex AI gives it (AIP_MODEL_DIR), which must change nothing else."""
    from trainer import task
    from trainer.config import TrainConfig

    root = tmp_path_factory.mktemp("same_seed")
    told = task.train(TrainConfig(input=preprocessed[0], job_dir=str(root / "job0"), model_dir=str(root / "model0"),
                                  seed=5, epochs=1))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIP_MODEL_DIR", str(root / "vertex_model"))
        from_env = task.train(TrainConfig(input=preprocessed[0], job_dir=str(root / "job1"), seed=5, epochs=1))
    return root, told, from_env


def test_same_data_and_seed_give_the_same_metrics(same_seed_runs):
    _, told, from_env = same_seed_runs
    runs = [told.metrics, from_env.metrics]
    assert runs[0]["model"] == runs[1]["model"]
    assert runs[0]["ranking"]["model"] == runs[1]["ranking"]["model"]


def test_vertex_ai_model_dir_is_honoured(same_seed_runs):
    root, _, from_env = same_seed_runs
    assert os.path.dirname(from_env.version_dir) == str(root / "vertex_model")
