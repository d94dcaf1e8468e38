"""The figures the retrain gate compares: a model version's metrics on the same raw eval rows as another's.

The rows are the spans' saved eval rows (retraining/span_store.py); a
SavedModel is scored through its `predict` signature, and a two-tower model
also through its embeddings on the same held-out positives
(trainer/evaluate.py).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from features.graph import TF_TYPES
from features.spec import FeatureSpec


def saved_model_scores(spec: FeatureSpec, version_dir: str, rows: dict[str, np.ndarray]) -> dict:
    """A SavedModel's eval metrics on raw rows, through its `predict` signature.  Classes are scored by the
    model's probability of each row's class, found by name in the classes the model answers with (a model
    trained on other data may order or know them differently); rows of a class it does not know are left out
    of its scores."""
    from trainer.metrics import class_metrics, regression_metrics
    from trainer.trees import load_saved_model

    predict = load_saved_model(version_dir).signatures["predict"]
    outputs = []
    label = spec.label
    n = len(rows[label.column])
    for start in range(0, n, 8192):
        inputs = {c.name: tf.constant(rows[c.name][start:start + 8192].tolist(), TF_TYPES[c.type])
                  for c in spec.serving_columns()}
        outputs.append({k: v.numpy() for k, v in predict(**inputs).items()})
    if label.is_classification:
        classes = [c.decode() for c in outputs[0]["classes"][0]]
        names = label.class_names(rows[label.column], spec.column(label.column).type)
        return class_metrics(label.task, names, np.concatenate([o["probabilities"] for o in outputs]), classes)
    prediction = label.to_model_scale(np.concatenate([o["prediction"] for o in outputs]))  # answers in label units
    return regression_metrics(label.to_model_scale(rows[label.column].astype(np.float64)), prediction)


def ranking_scores(spec: FeatureSpec, dirs: dict[str, str], rows: dict[str, np.ndarray]) -> dict[str, dict]:
    """recall@10 and NDCG@10 of each version (name -> folder) on the same held-out positives
    (trainer/evaluate.py)."""
    from trainer.evaluate import ranking_on_same_rows
    from embedding_uses.recommend import EmbeddingIndex

    ids = spec.model.id_columns(spec)
    return ranking_on_same_rows({name: EmbeddingIndex(path) for name, path in dirs.items()}, rows[ids["user"]],
                                rows[ids["item"]], rows[spec.label.column])
