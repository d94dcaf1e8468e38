"""The run report: train draws report.png in the version folder, with a location map for a lat x lon cross."""

import os

import numpy as np

from features.spec import load_spec
from trainer.report import REPORT_FILE, _mappable_cross, _pca_rgb

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_train_writes_report_png(trained):
    with open(os.path.join(trained.version_dir, REPORT_FILE), "rb") as f:
        assert f.read(8) == PNG_SIGNATURE


def test_location_map_only_for_a_cross_of_bucketized_numbers_the_model_has():
    housing = load_spec("housing")
    assert _mappable_cross(housing, {"location": np.zeros((1000, 6))}).cross == ("latitude_bucket",
                                                                                  "longitude_bucket")
    assert _mappable_cross(housing, {}) is None  # trained with --exclude-features location
    assert _mappable_cross(load_spec("movielens"), {"movie_id": np.zeros((3, 2))}) is None


def test_pca_colours_are_rgb_in_unit_range():
    rgb = _pca_rgb(np.random.default_rng(0).normal(size=(50, 6)))
    assert rgb.shape == (50, 3) and rgb.min() == 0.0 and rgb.max() == 1.0
    assert _pca_rgb(np.random.default_rng(0).normal(size=(5, 2))).shape == (5, 3)  # fewer dims than colours
