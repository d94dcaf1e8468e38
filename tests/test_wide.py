"""Wide & deep (`wide: true`): ids and numbers reach the output linearly, and the network starts as that linear part.

A shop table whose log price is linear in a number: the wide part learns a
positive weight for it, and before training the deep part adds nothing
(every row is predicted at the train mean).
"""

import numpy as np
import pytest
import tensorflow_transform as tft

from stage_contracts import manifest as mf
from features.spec import spec_from_dict
from trainer import task
from trainer.config import TrainConfig
from trainer.data import make_dataset, split_files
from trainer.model import build_model

@pytest.fixture(scope="module")
def shop_prep(shop_prices, tmp_path_factory) -> str:
    """The session's preprocessed shop (tests/conftest.py) with a wide DNN as its model: no Beam job of its own."""
    from conftest import with_model_settings

    return with_model_settings(shop_prices, tmp_path_factory.mktemp("wide") / "prep", type="dnn", hidden_units=[16],
                               epochs=3, wide=True, ensemble=2)


def test_untrained_wide_model_predicts_the_train_mean(shop_prep):
    manifest = mf.read_manifest(shop_prep)
    feature_spec = tft.TFTransformOutput(shop_prep).transformed_feature_spec()
    features, _ = next(iter(make_dataset(split_files(shop_prep, mf.EVAL_DIR), feature_spec, "price", 64)))
    predicted = build_model(spec_from_dict(manifest["spec"]), manifest)(features).numpy()
    np.testing.assert_allclose(predicted, manifest["label"]["train_mean"], rtol=1e-6)


def test_wide_part_learns_each_number_column(shop_prep, tmp_path):
    result = task.train(TrainConfig(input=shop_prep, job_dir=str(tmp_path / "job"), seed=1))
    layers = result.model.wide_numbers
    assert len(layers) == 2  # one per member of the ensemble
    size = result.spec.feature("size")
    kernel = layers[0].kernel.numpy()
    assert kernel.shape == (size.width, 1)
    assert kernel[0, 0] > 0  # the z-score of size: the price grows with it
    assert result.metrics["model"]["rmse"] < result.metrics["baseline_mean"]["rmse"]
