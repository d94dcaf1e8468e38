"""Real-estate: quantile buckets and the hashed latitude x longitude cross earn their keep."""

import os

import pytest

from beam_jobs import preprocess
from beam_jobs.config import PreprocessConfig
from embedflow.sample_tables import HousingSample, write_housing_sample
from features.spec import load_spec
from trainer import task
from trainer.config import TrainConfig


@pytest.fixture(scope="module")
def housing_prep(tmp_path_factory):
    root = tmp_path_factory.mktemp("housing")
    write_housing_sample(str(root / "data"), HousingSample(rows=12_000, seed=5))
    out = str(root / "prep")
    manifest = preprocess.run(PreprocessConfig(output=out, input=str(root / "data" / "housing.csv"),
                                               spec=load_spec("housing")))
    return out, manifest, root


def test_manifest_has_cross_with_fixed_table(housing_prep):
    _, manifest, _ = housing_prep
    location = manifest["features"]["location"]
    assert location == {"transform": "hashed_cross", "cardinality": 1000, "embedding_dim": 6}
    assert manifest["counts"]["rejected"]["total"] == 0
    assert manifest["features"]["latitude_bucket"]["cardinality"] == 21  # 20 quantile buckets + unknown


@pytest.mark.slow  # two trainings of 25 epochs on 12,000 rows
def test_cross_beats_no_cross_and_both_beat_the_mean(housing_prep):
    out, _, root = housing_prep
    runs = {}
    for name, excluded in (("cross", None), ("no_cross", ["location"])):
        result = task.train(TrainConfig(input=out, job_dir=str(root / name), seed=1, exclude_features=excluded,
                                        epochs=25))
        runs[name] = result.metrics
        assert os.path.basename(result.version_dir).isdigit()
        with open(os.path.join(result.version_dir, "report.png"), "rb") as f:  # with a location map for the cross
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    cross, plain = runs["cross"]["model"]["rmse"], runs["no_cross"]["model"]["rmse"]
    assert cross < 0.93 * plain, (cross, plain)
    assert plain < 0.8 * runs["cross"]["baseline_mean"]["rmse"]
    assert runs["cross"]["model_label_units"]["rmse"] < runs["no_cross"]["model_label_units"]["rmse"]
