"""The run report: train draws report.png in the version folder, with a location map for a lat x lon cross."""

import os

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from features.spec import load_spec  # noqa: E402
from trainer.report import REPORT_FILE, _learning_curves, _mappable_cross, _panels, _pca_rgb  # noqa: E402
from embedding_uses.visualize import place_labels  # noqa: E402

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


def test_learning_curves_mark_the_epoch_selection_kept_not_the_lowest_loss():
    """A two-tower model keeps the epoch of best validation recall (metrics.json's best_epoch); the picture says
    that epoch and draws the curve it was chosen on, though the validation loss was lowest at epoch 2."""
    history = {"loss": [3.0, 2.0, 1.0, 0.5], "val_loss": [2.0, 1.0, 1.5, 1.8], "val_recall_at_10": [0.1, 0.2, 0.3, 0.25]}
    fig, ax = plt.subplots()
    _learning_curves(ax, {"history": history, "best_epoch": 3, "selection_metric": "val_recall_at_10"})
    lines = [line for a in fig.axes for line in a.get_lines()]
    kept = [line for line in lines if line.get_label().startswith("kept")]
    assert len(kept) == 1 and list(kept[0].get_xdata()) == [3, 3] and "recall_at_10" in kept[0].get_label()
    assert "validation recall_at_10" in [line.get_label() for line in lines]
    plt.close(fig)


def test_a_report_without_ranking_or_map_has_no_placeholder_panels():
    metrics = {"history": {"loss": [1.0]}, "best_epoch": 1, "model": {"rmse": 1.0}}
    assert list(_panels(metrics, load_spec("housing"), {}, None, "", None, None)) == ["learning curves",
                                                                                       "against baselines"]


def test_labels_neither_overlap_nor_leave_the_axes():
    """Ten long titles on dots in one spot (popular items in the middle of the map) all find a free place."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5), dpi=80, layout="constrained")
    points = np.random.default_rng(0).normal(size=(3000, 2))
    ax.scatter(points[:, 0], points[:, 1], s=4)
    placed = place_labels(ax, points[:10] * 0.05, [f"A Long Movie Title Number {i} (1999)" for i in range(10)])
    renderer = fig.canvas.get_renderer()
    boxes = [matplotlib.text.Text.get_window_extent(label, renderer) for label in placed]
    frame = ax.get_window_extent(renderer)
    assert len(placed) == 10
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(fig)
