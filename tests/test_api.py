"""The Python API (`import embedflow`): lazy import, and a round trip on the session's fixtures."""

import os
import subprocess
import sys

import pytest

import embedflow as ef


def test_import_loads_neither_tensorflow_nor_beam():
    code = ("import sys, embedflow as ef; ef.PreprocessConfig(output='x'); ef.TrainConfig(input='y'); "
            "print(sorted(m for m in ('tensorflow', 'apache_beam', 'pyarrow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        ef.no_such_function  # noqa: B018


def test_sample_preprocess_and_statistics_round_trip(tmp_path):
    data = ef.sample_data(str(tmp_path / "data"), ef.RatingsSample(users=60, movies=40, ratings=1_500, seed=2))
    prep = ef.preprocess(ef.PreprocessConfig(input=data, output=str(tmp_path / "prep"), seed=5))
    with open(os.path.join(data, "ratings.csv")) as f:
        assert prep.counts["read"] == sum(1 for _ in f) - 1
    assert prep.manifest["spec"]["split"]["seed"] == 5
    stats = prep.statistics()
    assert [d.num_examples for d in stats.datasets] == [prep.counts["kept"]["train"], prep.counts["kept"]["eval"]]
    with pytest.raises(ef.UserError, match="not empty"):
        ef.preprocess(ef.PreprocessConfig(input=data, output=prep.output))


def test_describe_similar_and_recommend_on_a_trained_model(preprocessed, trained):
    assert "Statistics (train" in ef.describe("movielens", preprocessed[0])
    for model in (trained.version_dir, os.path.dirname(trained.version_dir)):  # a model given for a preprocess output
        with pytest.raises(ef.UserError, match=r"is a model (version|dir) .*not a preprocess output"):
            ef.describe("movielens", model)
    model_dir = os.path.dirname(trained.version_dir)
    from embedding_uses.recommend import EmbeddingIndex

    index = EmbeddingIndex(trained.version_dir)
    item, user = index.item_ids[0], index.user_ids[0]
    neighbours = ef.similar(model_dir, item, k=3)
    assert len(neighbours) == 3 and item not in [n.id for n in neighbours]
    assert neighbours[0].score >= neighbours[-1].score and "title" in neighbours[0].attributes
    recs = ef.recommend(trained.version_dir, user, k=5)
    assert len(recs) == 5 and all(0 < r.predicted_rating < 6 for r in recs)
    assert all(a.score >= b.score - 1e-5 for a, b in zip(recs, recs[1:]))  # the order's own number
    new_user = ef.recommend(trained.version_dir, history=[n.id for n in neighbours], k=4)
    assert len(new_user) == 4 and not {n.id for n in neighbours} & {r.id for r in new_user}
