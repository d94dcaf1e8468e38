"""Train the spec's model on a preprocess output, evaluate it against baselines, export it.

Run as `embedflow train ...` or `python -m trainer.task ...` (the Vertex AI
custom-training convention): `--job-dir` holds checkpoints and TensorBoard
logs, and the model is exported to `AIP_MODEL_DIR` when Vertex AI sets it,
else to `--model-dir` (default `<job-dir>/model`).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import os
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from beam_jobs import manifest as mf
from beam_jobs.errors import UserError
from beam_jobs.spec import FeatureSpec, spec_from_dict
from trainer.data import make_dataset, split_files, training_input
from trainer.embeddings import compute_vectors, write_embeddings
from trainer.evaluation import (
    BiasBaseline, binary_metrics, csr_from_pairs, csr_rows, ranking_metrics, regression_metrics)
from trainer.export import ServingModule, export_model
from trainer.model import TwoTowerModel, build_model
from trainer.topk import DEFAULT_BLOCK, DEFAULT_POPULARITY_WEIGHT, TopKScorer, ranking_bias

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.json"
WEIGHTS_DIR = "weights"  # Keras weights beside the SavedModel, for warm starts


@dataclasses.dataclass
class TrainResult:
    version_dir: str
    metrics: dict
    model: keras.Model
    tft_output: tft.TFTransformOutput
    spec: FeatureSpec


def read_params(path: str) -> dict:
    """A params file written by `embedflow tune` (YAML or JSON): embedding_dims, hidden_units, learning_rate."""
    import yaml

    try:
        with tf.io.gfile.GFile(path) as f:
            params = yaml.safe_load(f) or {}
    except tf.errors.NotFoundError:
        raise UserError(f"Params file {path} does not exist.") from None
    unknown = sorted(set(params) - {"embedding_dims", "hidden_units", "learning_rate", "epochs", "batch_size"})
    if unknown:
        raise UserError(f"Params file {path}: unknown key(s) {', '.join(unknown)}")
    return params


def apply_params(args: argparse.Namespace, manifest: dict, params: dict) -> argparse.Namespace:
    """Apply tuned params: embedding dimensions go into the manifest copy, the rest into the overrides."""
    for name, dim in (params.get("embedding_dims") or {}).items():
        if name not in manifest["features"] or "embedding_dim" not in manifest["features"][name]:
            raise UserError(f"Params: '{name}' is not a categorical feature of this preprocess output")
        manifest["features"][name]["embedding_dim"] = int(dim)
    merged = dict(vars(args))
    for key in ("hidden_units", "learning_rate", "epochs", "batch_size"):
        if params.get(key) is not None and merged.get(key) is None:
            merged[key] = tuple(params[key]) if key == "hidden_units" else params[key]
    return argparse.Namespace(**merged)


def auto_sized(manifest: dict) -> dict[str, int]:
    """Categorical features whose dimension comes from the fourth-root rule, with that dimension."""
    spec = spec_from_dict(manifest["spec"])
    return {f.name: manifest["features"][f.name]["embedding_dim"]
            for f in spec.features if f.is_categorical and f.embedding_dim == "auto"}


def scaled_dims(manifest: dict, scale: float) -> dict[str, int]:
    """Every auto-sized embedding dimension multiplied by `scale` (the knob tuning turns)."""
    return {name: max(1, round(dim * scale)) for name, dim in auto_sized(manifest).items()}


def scale_embeddings(manifest: dict, scale: float) -> None:
    for name, dim in scaled_dims(manifest, scale).items():
        manifest["features"][name]["embedding_dim"] = dim


def report_to_vertex(metrics: dict, tag: str, epochs: int) -> None:
    """Report the eval metric to Vertex AI hyperparameter tuning (package cloudml-hypertune)."""
    try:
        import hypertune
    except ImportError:
        raise UserError("--hypertune-metric needs the cloudml-hypertune package: pip install 'embedflow[vertex]'") from None
    if tag not in metrics["model"]:
        raise UserError(f"--hypertune-metric {tag}: the model reports {', '.join(metrics['model'])}")
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag=tag, metric_value=metrics["model"][tag], global_step=epochs)


def _with_overrides(spec: FeatureSpec, args: argparse.Namespace) -> FeatureSpec:
    """The spec's model settings with command-line overrides applied."""
    changes = {k: getattr(args, k) for k in ("epochs", "batch_size", "learning_rate", "hidden_units")
               if getattr(args, k, None)}
    excluded = getattr(args, "exclude_features", None)
    if excluded:
        if spec.model.type != "dnn":
            raise UserError("--exclude-features applies to dnn models; a two-tower model's towers are in its spec")
        unknown = sorted(set(excluded) - {f.name for f in spec.features})
        if unknown:
            raise UserError(f"--exclude-features names unknown feature(s) {', '.join(unknown)}")
        changes["features"] = tuple(f.name for f in spec.features if f.name not in excluded)
    return dataclasses.replace(spec, model=dataclasses.replace(spec.model, **changes)) if changes else spec


def read_side_table(preprocess_dir: str, manifest: dict):
    name = manifest["layout"].get("side_table")
    if not name:
        return None
    with tf.io.gfile.GFile(os.path.join(preprocess_dir, name), "rb") as f:
        return pq.read_table(io.BytesIO(f.read()))


def _collect(model: keras.Model, dataset: tf.data.Dataset, keys: tuple[str, ...] = ()) -> dict:
    """Labels, predictions and the named transformed features over a whole dataset."""
    out: dict[str, list] = {"label": [], "prediction": [], **{k: [] for k in keys}}
    for features, label in dataset:
        out["label"].append(label.numpy())
        out["prediction"].append(model(features, training=False).numpy() if model is not None else label.numpy())
        for k in keys:
            out[k].append(tf.reshape(features[k], [-1]).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def evaluate(model: keras.Model, spec: FeatureSpec, manifest: dict, train_ds, eval_ds,
             vectors: dict | None = None) -> dict:
    """Model and baseline metrics on the eval split, all computed by the same numpy code.

    For two-tower models `vectors` gains `rated` (every known user x item pair,
    to exclude from recommendations) and metrics gain `ranking`.
    """
    two_tower = isinstance(model, TwoTowerModel)
    keys = (model.user_id, model.item_id) if two_tower else ()
    ev = _collect(model, eval_ds, keys)
    binary = spec.label.task == "binary_classification"
    score = binary_metrics if binary else regression_metrics
    train_mean = manifest["label"]["train_mean"]
    metrics = {"model": score(ev["label"], ev["prediction"]),
               "baseline_mean": score(ev["label"], np.full_like(ev["label"], train_mean))}
    if spec.label.transform == "log":
        metrics["model_label_units"] = score(np.exp(ev["label"]), np.exp(ev["prediction"]))
        metrics["baseline_mean_label_units"] = score(np.exp(ev["label"]), np.full_like(ev["label"], np.exp(train_mean)))
    if two_tower:
        tr = _collect(None, train_ds, keys)
        mfeat = manifest["features"]
        baseline = BiasBaseline().fit(tr[model.user_id], tr[model.item_id], tr["label"],
                                      mfeat[model.user_id]["cardinality"], mfeat[model.item_id]["cardinality"])
        metrics["baseline_bias"] = score(ev["label"], baseline.predict(ev[model.user_id], ev[model.item_id]))
        if vectors:
            metrics["ranking"] = _ranking(model, vectors, tr, ev)
    metrics["eval_examples"] = int(len(ev["label"]))
    return metrics


def _ranking(model: TwoTowerModel, vectors: dict, tr: dict, ev: dict, k: int = 10,
             positive: float = 4.0) -> dict:
    """recall@k / NDCG@k on held-out positives (eval ratings >= `positive`), model vs popularity.

    Candidates are all items the user did not rate in train; the model ranks
    by predicted rating, the baseline by train popularity.
    """
    n_users, n_items = len(vectors["users"]), len(vectors["items"])
    u, i = model.user_id, model.item_id
    train_ptr, train_idx = csr_from_pairs(tr[u], tr[i], n_users, n_items)
    good = ev["label"] >= positive
    eval_ptr, eval_idx = csr_from_pairs(ev[u][good], ev[i][good], n_users, n_items)
    vectors["rated"] = csr_from_pairs(np.r_[tr[u], ev[u]], np.r_[tr[i], ev[i]], n_users, n_items)
    users = np.flatnonzero(np.diff(eval_ptr) > 0)
    counts = np.bincount(train_idx, minlength=n_items)
    vectors["item_count"] = counts
    no_users = np.zeros((n_users, 1), np.float32)
    scorers = {
        "model": (TopKScorer(vectors["items"], ranking_bias(vectors["item_bias"], counts,
                                                            DEFAULT_POPULARITY_WEIGHT), k), vectors["users"]),
        "model_rating_only": (TopKScorer(vectors["items"], vectors["item_bias"], k), vectors["users"]),
        "popularity": (TopKScorer(np.zeros((n_items, 1), np.float32), ranking_bias(0 * counts, counts, 1.0), k),
                       no_users),
    }
    result: dict = {"users": int(len(users)), "positive_rating": positive, "k": k,
                    "popularity_weight": DEFAULT_POPULARITY_WEIGHT}
    for name, (scorer, user_vectors) in scorers.items():
        tops = []
        for start in range(0, len(users), DEFAULT_BLOCK):
            block = users[start:start + DEFAULT_BLOCK]
            tops.append(scorer.top_k(user_vectors[block], *csr_rows(train_ptr, train_idx, block))[0])
        top = np.concatenate(tops) if tops else np.zeros((0, k), np.int64)
        result[name] = ranking_metrics(top, eval_ptr, eval_idx, users, k)
    return result


def _warm_start(model: keras.Model, manifest: dict, from_version: str, sample_batch: dict) -> bool:
    """Start from a previous version's weights when every feature's table has the same shape."""
    weights = os.path.join(from_version, WEIGHTS_DIR, "weights")
    try:
        previous = mf.read_json(os.path.join(from_version, mf.MANIFEST))
    except (tf.errors.NotFoundError, FileNotFoundError):
        return False
    same_shapes = all(
        previous["features"].get(name, {}).get(key) == info.get(key)
        for name, info in manifest["features"].items() for key in ("cardinality", "embedding_dim"))
    if not same_shapes or not tf.io.gfile.glob(weights + "*"):
        log.info("Not warm-starting from %s: vocabularies changed; training from scratch", from_version)
        return False
    model(sample_batch)  # build the variables before restoring them
    model.load_weights(weights)
    log.info("Warm-starting from %s", from_version)
    return True


def train(preprocess_dir: str, job_dir: str, model_dir: str | None = None, seed: int = 42,
          args: argparse.Namespace | None = None, warm_start_from: str | None = None) -> TrainResult:
    """Fit, evaluate and export; returns where the model went and its metrics.

    `warm_start_from`: a model version folder whose weights seed this model when
    the vocabularies allow (same table shapes); otherwise training starts fresh.
    """
    manifest = mf.read_manifest(preprocess_dir)
    args = args or argparse.Namespace()
    if getattr(args, "params", None):
        args = apply_params(args, manifest, read_params(args.params))
    if getattr(args, "embedding_scale", None):
        scale_embeddings(manifest, args.embedding_scale)
    spec = _with_overrides(spec_from_dict(manifest["spec"]), args)
    model_dir = model_dir or os.environ.get("AIP_MODEL_DIR") or os.path.join(job_dir, "model")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tft_output = tft.TFTransformOutput(preprocess_dir)
    feature_spec = tft_output.transformed_feature_spec()
    label = spec.label.column
    cfg = spec.model
    train_files, eval_files = split_files(preprocess_dir, mf.TRAIN_DIR), split_files(preprocess_dir, mf.EVAL_DIR)
    counts = manifest["counts"]["kept"]
    train_input = training_input(train_files, feature_spec, label, cfg.batch_size, seed, counts["train"],
                                 getattr(args, "in_memory", None))
    eval_ds = make_dataset(eval_files, feature_spec, label, max(cfg.batch_size, 4096))

    model = build_model(spec, manifest)
    warm = bool(warm_start_from) and _warm_start(model, manifest, warm_start_from, next(iter(eval_ds))[0])
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping_patience,
                                      restore_best_weights=True),
        keras.callbacks.TensorBoard(log_dir=os.path.join(job_dir, "logs")),
        keras.callbacks.ModelCheckpoint(os.path.join(job_dir, "checkpoints", "best"), monitor="val_loss",
                                        save_best_only=True, save_weights_only=True),
    ]
    log.info("Training %s model on %d examples (eval %d), batch %d, up to %d epochs", cfg.type,
             counts["train"], counts["eval"], cfg.batch_size, cfg.epochs)
    started = time.time()
    history = model.fit(train_input.dataset, steps_per_epoch=train_input.steps_per_epoch, validation_data=eval_ds,
                        epochs=cfg.epochs, callbacks=callbacks, verbose=2)
    seconds = time.time() - started

    side_table = read_side_table(preprocess_dir, manifest)
    vectors = compute_vectors(model, spec, tft_output, side_table)
    metrics = evaluate(model, spec, manifest, train_input.one_pass, eval_ds, vectors)
    metrics.update({
        "task": spec.label.task, "epochs_trained": len(history.history["loss"]),
        "best_epoch": int(np.argmin(history.history["val_loss"])) + 1, "train_seconds": round(seconds, 2),
        "train_examples": counts["train"], "seed": seed, "warm_started_from": warm_start_from if warm else None,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    })
    module = ServingModule(model, tft_output, spec, side_table)
    version_dir = export_model(
        module, spec, model_dir,
        extra_files={METRICS_FILE: json.dumps(metrics, indent=2) + "\n",
                     mf.MANIFEST: json.dumps(manifest, indent=2) + "\n"},
        write_extras=lambda folder: (write_embeddings(folder, model, tft_output, vectors),
                                     model.save_weights(os.path.join(folder, WEIGHTS_DIR, "weights"))))
    return TrainResult(version_dir, metrics, model, tft_output, spec)


def summary_lines(metrics: dict) -> list[str]:
    lines = []
    for name in ("model", "baseline_bias", "baseline_mean", "model_label_units", "baseline_mean_label_units"):
        if name in metrics:
            values = ", ".join(f"{k} {v:.4f}" for k, v in metrics[name].items())
            lines.append(f"  {name:<26} {values}")
    if "ranking" in metrics:
        r = metrics["ranking"]
        for name in ("model", "model_rating_only", "popularity"):
            values = ", ".join(f"{k} {v:.4f}" for k, v in r[name].items())
            lines.append(f"  ranking {name:<18} {values} ({r['users']} users, held-out ratings >= {r['positive_rating']})")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a preprocess output folder")
    parser.add_argument("--job-dir", "--job_dir", dest="job_dir", default="runs/train",
                        help="checkpoints and TensorBoard logs (Vertex AI passes --job-dir)")
    parser.add_argument("--model-dir", help="where version folders go (default: $AIP_MODEL_DIR, "
                                            "else <job-dir>/model)")
    parser.add_argument("--epochs", type=int, help="override the spec's model.epochs")
    parser.add_argument("--batch-size", type=int, help="override the spec's model.batch_size")
    parser.add_argument("--learning-rate", type=float, help="override the spec's model.learning_rate")
    parser.add_argument("--exclude-features", type=lambda text: [t for t in text.split(",") if t],
                        help="comma-separated features a dnn model leaves out (for ablations)")
    parser.add_argument("--params", help="a params file from `embedflow tune` (embedding dims, hidden units, "
                                          "learning rate)")
    parser.add_argument("--embedding-scale", type=float,
                        help="multiply every auto-sized embedding dimension (for hyperparameter tuning services)")
    parser.add_argument("--hypertune-metric", help="report this eval metric (rmse, mae, auc) to Vertex AI "
                                                   "hyperparameter tuning")
    parser.add_argument("--in-memory", dest="in_memory", action=argparse.BooleanOptionalAction, default=None,
                        help="hold the train split in memory (fast, reshuffled each epoch) or stream it through a "
                             "shuffle buffer (default: in memory when it fits in a quarter of RAM)")
    parser.add_argument("--seed", type=int, default=42)


def main_from_args(args: argparse.Namespace, _extra: list[str]) -> TrainResult:
    result = train(args.input, args.job_dir, args.model_dir, args.seed, args)
    if args.hypertune_metric:
        report_to_vertex(result.metrics, args.hypertune_metric, result.metrics["epochs_trained"])
    print(f"Exported {result.version_dir}")
    print("Eval metrics:")
    print("\n".join(summary_lines(result.metrics)))
    return result


if __name__ == "__main__":
    from embedflow.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
