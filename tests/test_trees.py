"""Gradient-boosted trees (YDF) and the DNN + trees blend, exported inside the SavedModel that takes raw rows.

One blend is trained on a small table; a fresh process that imports only
TensorFlow and YDF's TensorFlow ops loads it and gets prices back (without
the ops it cannot load it at all: the trees are inside).  The blend's
weight and the trees' settings are chosen on the validation slice and
listed in metrics.json with the eval figures of each part.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import with_model_settings
from trainer import task
from trainer.config import TrainConfig
from trainer.tree_models import logit_scale, scaled_log_odds
from features.model_types import Trees
from features.transforms import ZScore
from trainer.trees import TreeInputs, depth_beyond, refit_trees, train_trees

LOADER = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    if sys.argv[2] == "ops":
        import ydf_tf.op_dynamic  # noqa: F401 - YDF's inference ops, as TF Serving must have them
    out = tf.saved_model.load(sys.argv[1]).signatures["predict"](
        size=tf.constant([1.0, 9.0]), colour=tf.constant(["red", "blue"]))
    print(json.dumps(out["prediction"].numpy().tolist()))
""")


def _train(prep: str, job_dir) -> task.TrainResult:
    return task.train(TrainConfig(input=prep, job_dir=str(job_dir), seed=2))


@pytest.fixture(scope="module")
def blend(shop_prices, tmp_path_factory):
    return _train(shop_prices, tmp_path_factory.mktemp("blend"))


def _load(version_dir: str, with_ops: bool) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LOADER, version_dir, "ops" if with_ops else "tf-only"],
                          capture_output=True, text=True, timeout=300)


def test_blend_savedmodel_loads_with_tensorflow_and_ydf_ops_only(blend):
    done = _load(blend.version_dir, with_ops=True)
    assert done.returncode == 0, done.stderr[-3000:]
    prices = json.loads(done.stdout.strip().splitlines()[-1])
    assert 5_000 < prices[0] < prices[1] < 100_000  # prices (bigger costs more), not log prices
    without = _load(blend.version_dir, with_ops=False)
    assert without.returncode != 0 and "SimpleML" in without.stderr  # the trees are inside the SavedModel


def test_blend_weight_is_chosen_on_validation_and_parts_are_reported(blend):
    chosen = blend.metrics["chosen_on_validation"]
    losses = {t["dnn_weight"]: t["validation_loss"] for t in chosen["blend"]}
    assert losses[chosen["dnn_weight"]] == min(losses.values()) and {0.0, 1.0} <= set(losses)
    searched = [t for t in chosen["trees"] if t["inputs"] == "trees_without_embeddings"]
    first_step = min((t for t in searched if t["max_depth"] in (3, 4)), key=lambda t: t["validation_loss"])
    beyond = {3: 2, 4: 5}[first_step["max_depth"]]  # the kept depth is at an end of [3, 4]: one step past it too
    assert sorted(t["max_depth"] for t in searched) == sorted([3, 4, beyond])
    assert all(t["trees"] >= 1 for t in chosen["trees"])
    kept = searched[0]  # the kept try comes first
    assert kept["validation_loss"] == min(t["validation_loss"] for t in searched)  # one rate: the lowest loss
    with_embeddings = [t for t in chosen["trees"] if t["inputs"] == "trees_with_embeddings"]
    assert [(t["max_depth"], t["learning_rate"]) for t in with_embeddings] == [(kept["max_depth"],
                                                                                 kept["learning_rate"])]
    history = blend.metrics["history"]  # the DNN also watched the blend's validation loss, epoch by epoch
    assert len(history["val_blend_loss"]) == blend.metrics["epochs_trained"]
    assert min(history["val_blend_loss"]) <= min(t["validation_loss"] for t in chosen["trees"]) + 1e-6
    for name in ("model", "model_dnn", "model_trees", "model_trees_with_embeddings", "model_trees_without_embeddings"):
        assert blend.metrics[name]["rmse"] < blend.metrics["baseline_mean"]["rmse"], blend.metrics


def test_kept_trees_are_refitted_on_every_train_row(blend):
    refitted = blend.metrics["chosen_on_validation"]["trees_refitted"]
    assert refitted["rows"] == blend.metrics["train_examples"]  # the fit part and the validation slice
    for name in ("trees_without_embeddings", "trees_with_embeddings"):
        kept = next(t for t in blend.metrics["chosen_on_validation"]["trees"] if t["inputs"] == name)  # kept first
        assert {k: refitted[name][k] for k in ("max_depth", "learning_rate", "trees")} == {
            k: kept[k] for k in ("max_depth", "learning_rate", "trees")}


def test_trees_without_refit_keep_the_searched_trees(shop_prices, tmp_path):
    with open(f"{shop_prices}/manifest.json", encoding="utf-8") as f:
        trees = {**json.load(f)["spec"]["model"]["trees"], "refit": False}
    prep = with_model_settings(shop_prices, tmp_path / "prep", type="gradient_boosted_trees", trees=trees)
    result = _train(prep, tmp_path / "job")
    assert "trees_refitted" not in result.metrics["chosen_on_validation"]


def test_trees_keep_the_smallest_learning_rate_at_the_searched_depth(shop_prices, tmp_path):
    trees = {"num_trees": 3, "max_depth": [3], "learning_rate": [0.5, 0.01], "refit": False}
    prep = with_model_settings(shop_prices, tmp_path / "prep", type="gradient_boosted_trees", trees=trees)
    tries = _train(prep, tmp_path / "job").metrics["chosen_on_validation"]["trees"]
    assert [t["learning_rate"] for t in tries] == [0.01, 0.5]  # kept first, though 3 trees at 0.01 barely learn
    assert tries[0]["validation_loss"] > tries[1]["validation_loss"]


def test_logit_scale_calibrates_a_too_confident_blend_on_the_validation_slice():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 400)
    right = rng.random(400) < 0.8  # 80% right, but said with 97% confidence
    p = np.where(right == (label == 1), 0.97, 0.03)
    chosen = logit_scale("binary_classification", label, p)
    assert chosen["logit_scale"] < 0.7 and chosen["validation_loss"] < 0.8 * chosen["unscaled_validation_loss"]
    two = logit_scale("multiclass_classification", label, np.stack([1 - p, p], axis=1))
    assert np.isclose(two["logit_scale"], chosen["logit_scale"])  # two classes' softmax is the binary sigmoid
    assert np.allclose(scaled_log_odds("binary_classification", p, 1.0).numpy(), p, atol=1e-6)


@pytest.mark.parametrize("depths, kept, beyond", [((4, 6, 8), 4, 2), ((4, 6, 8), 8, 10), ((4, 6, 8), 6, None),
                                                  ((2, 4), 2, 1), ((1, 3), 1, None), ((3, 2), 2, 1), ((6,), 6, None)])
def test_depth_beyond_the_searched_list(depths, kept, beyond):
    assert depth_beyond(depths, kept) == beyond


def test_trees_alone_learn_the_price(shop_prices, tmp_path):
    result = _train(with_model_settings(shop_prices, tmp_path / "prep", type="gradient_boosted_trees"),
                    tmp_path / "job")
    assert result.metrics["model"]["rmse"] < 0.3 * result.metrics["baseline_mean"]["rmse"], result.metrics
    assert np.isfinite(result.metrics["model_label_units"]["rmse"])


def test_several_classes_count_boosting_iterations_so_the_refit_grows_as_many():
    """YDF grows a tree per class each boosting iteration; the refit asks for iterations, so a try counts them."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=600).astype(np.float32)
    y = np.digitize(x + 0.5 * rng.normal(size=600), [-0.5, 0.5])  # three classes
    fit, validation = ({"x": x[:450]}, y[:450]), ({"x": x[450:]}, y[450:])
    inputs = TreeInputs([ZScore(name="x", source="x")])
    trained, tries = train_trees(inputs, fit, validation, "multiclass_classification",
                                 Trees(num_trees=50, max_depth=(3,)), 3, seed=1)
    assert trained.ydf_model.num_trees() == 3 * tries[0].trees  # a tree per class each iteration
    refitted = refit_trees(inputs, fit, "multiclass_classification", Trees(), tries[0], 3, seed=1)
    assert refitted.ydf_model.num_trees() == trained.ydf_model.num_trees()
