"""The figures the retrain gate compares: a model version's metrics on the same raw eval rows as another's.

The rows are the spans' saved eval rows (the stable split, saved when each
span was checked); a SavedModel is scored through its `predict` signature,
and a two-tower model also through its embeddings on the same held-out
positives (trainer/evaluate.py).
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from features.graph import TF_TYPES
from features.spec import FeatureSpec

EVAL_ROWS = "eval_rows.parquet"  # a span's raw eval rows, saved when it is checked


def eval_rows_of(spans_dir: str, spans: list[str], max_rows: int) -> dict[str, np.ndarray]:
    """Raw eval rows of `spans`, newest spans first, capped at `max_rows` for speed: when the cap bites, it is the
    oldest spans' rows that are left out."""
    tables = [pq.read_table(os.path.join(spans_dir, s, EVAL_ROWS)) for s in reversed(spans)]
    table = pa.concat_tables([t for t in tables if t.num_rows]).slice(0, max_rows)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


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
    from trainer.recommend import EmbeddingIndex

    ids = spec.model.id_columns(spec)
    return ranking_on_same_rows({name: EmbeddingIndex(path) for name, path in dirs.items()}, rows[ids["user"]],
                                rows[ids["item"]], rows[spec.label.column])
