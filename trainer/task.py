"""Train the spec's model on a preprocess output, evaluate it against baselines, export it.

Library use: `train(TrainConfig(input=..., job_dir=...))`.  Command line:
`embedflow train ...` or `python -m trainer.task ...` (the Vertex AI
custom-training convention): `--job-dir` holds checkpoints and TensorBoard
logs, and the model is exported to `AIP_MODEL_DIR` when Vertex AI sets it,
else to `--model-dir` (default `<job-dir>/model`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from stage_contracts import manifest as mf
from stage_contracts.errors import UserError
from stage_contracts.interrupt import raise_if_interrupted
from stage_contracts.progress import timed
from features.spec import FeatureSpec
from trainer import distribution, settings
from trainer.config import TrainConfig
from trainer.data import (VALIDATION_FRACTION, TrainingInput, make_dataset, split_files, training_input,
                          worker_fit_fn, worker_validation_fn)
from trainer.embeddings import compute_vectors, write_embeddings
from trainer.evaluate import Evaluation, evaluate
from trainer.export import ServingModule, export_model
from trainer.id_table import IdTable
from trainer.memory import release_freed_memory
from trainer.model import SpecModel, TrainingData, build_model
from trainer.report import REPORT_FILE, write_report
from trainer.warm_start import WarmStart, warm_start, weights_path

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.json"


@dataclasses.dataclass
class TrainResult:
    version_dir: str
    metrics: dict
    model: SpecModel
    tft_output: tft.TFTransformOutput
    spec: FeatureSpec


def vertex_reporter():
    """Vertex AI's hyperparameter-tuning reporter (package cloudml-hypertune), checked before training starts."""
    try:
        import hypertune
    except ImportError:
        raise UserError("--hypertune-metric needs the cloudml-hypertune package: pip install 'embedflow[vertex]'") from None
    return hypertune.HyperTune()


def report_to_vertex(reporter, metrics: dict, tag: str, epochs: int) -> None:
    """Report the eval metric to Vertex AI hyperparameter tuning."""
    if tag not in metrics["model"]:
        raise UserError(f"--hypertune-metric {tag}: the model reports {', '.join(metrics['model'])}")
    reporter.report_hyperparameter_tuning_metric(hyperparameter_metric_tag=tag, metric_value=metrics["model"][tag],
                                                 global_step=epochs)


def read_side_table(preprocess_dir: str, manifest: dict) -> pa.Table | None:
    name = manifest["layout"].get("side_table")
    if not name:
        return None
    with tf.io.gfile.GFile(os.path.join(preprocess_dir, name), "rb") as f:
        return pq.read_table(io.BytesIO(f.read()))


def id_table_of(preprocess_dir: str, manifest: dict, spec: FeatureSpec, seed: int) -> IdTable | None:
    """The preprocess output's id table, whose train ids the model's preparation reads; None where the spec has no
    ids, or where the output predates the table (then the preparation parses the train records, as it did)."""
    table = IdTable.of(preprocess_dir, manifest, seed)
    if table is None and spec.model.id_features:
        log.info("%s has no id table (written by an older preprocess): the ids are read by parsing every train "
                 "record; rerun preprocess to skip that pass", preprocess_dir)
    return table


class EpochSeconds(keras.callbacks.Callback):
    """Adds each epoch's wall time to the logs, so the history shows it (`epoch_seconds`; the first epoch also
    traces the graph and loads the data, so speed comparisons leave it out); stops at an epoch's end after a
    Ctrl-C that TensorFlow swallowed (stage_contracts/interrupt.py)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._started
        raise_if_interrupted()


def _callbacks(job_dir: str, patience: int, model: SpecModel, extra: tuple[keras.callbacks.Callback, ...] = ()
               ) -> list[keras.callbacks.Callback]:
    """The model's own callbacks and `extra` ones (metrics they log come first), then early stopping on the model's
    stopping metric (best weights restored), TensorBoard logs, the best weights on disk, epoch times."""
    monitor, mode = model.early_stopping
    return [
        EpochSeconds(),
        *model.callbacks(),
        *extra,
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True),
        keras.callbacks.TensorBoard(log_dir=os.path.join(job_dir, "logs")),
        keras.callbacks.ModelCheckpoint(os.path.join(job_dir, "checkpoints", "best"), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True),
    ]


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """What one training run reads from its preprocess output, made once in this order."""

    tft_output: tft.TFTransformOutput
    feature_spec: dict
    train_files: list[str]
    train_input: TrainingInput  # the fit dataset, its validation slice, one pass
    eval_ds: tf.data.Dataset
    side_table: pa.Table | None
    data: TrainingData


def train(config: TrainConfig) -> TrainResult | None:
    """Fit, evaluate and export; returns where the model went and its metrics (None on a worker that is not the
    chief: every worker trains, the chief alone evaluates and exports; trainer/distribution.py).

    `config.warm_start_from`: a model version folder whose weights seed this
    model when the vocabularies allow (same table shapes); otherwise training
    starts fresh.
    """
    cluster = distribution.Cluster.from_env()
    kind = distribution.resolve(config.distribution, cluster)
    if kind == "parameter_server" and not cluster.is_chief:
        distribution.serve_forever(cluster)  # never returns: the chief schedules the steps
    # First, before anything starts TensorFlow's runtime:
    strategy = distribution.make_strategy(kind, cluster, int(config.ps_shard_mb * 2**20))
    spec, manifest = settings.resolve(config, mf.read_manifest(config.input))
    mf.check_row_keys(manifest, config.input)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    inputs = _read_inputs(config, spec, manifest)
    data, counts = inputs.data, manifest["counts"]["kept"]
    with strategy.scope():  # the model's variables and optimizer state live where the strategy puts them
        model = build_model(spec, manifest, distribution.evaluation_shards(kind, cluster, len(inputs.train_files)))
        model.prepare(data)
        warm = bool(config.warm_start_from) and warm_start(model, spec, inputs.tft_output, config.warm_start_from,
                                                            next(iter(inputs.eval_ds))[0])
    log.info("Training %s model on %d examples (eval %d), batch %d, up to %d epochs (%s, strategy %s)",
             spec.model.type, counts["train"], counts["eval"], spec.model.batch_size, spec.model.epochs,
             cluster.describe(), kind)
    started = time.time()
    history = model.fit_model(data, _keras_fit(config, spec, kind, inputs, counts["train"]))
    seconds = time.time() - started
    placement = {"strategy": kind}
    if kind == "parameter_server":
        placement["table_devices"] = distribution.table_devices(model.embedding_tables())
        log.info("Embedding tables' shards: %s", ", ".join(f"{name} {len(devices)}" for name, devices
                                                           in placement["table_devices"].items()))
    if kind != "none":
        model = _chief_copy(model, spec, manifest, data, next(iter(inputs.eval_ds))[0], cluster, config.job_dir)
        if model is None:
            return None
    release_freed_memory()  # between steps from here on: each step's temporary arrays go before the next's
    selection = model.finish(data)
    release_freed_memory()

    with timed("Computed the tower vectors of every user and item", log):
        vectors = compute_vectors(model, spec, inputs.tft_output, inputs.side_table)
    release_freed_memory()
    with timed("Evaluated the model against its baselines", log):
        evaluation = evaluate(model, spec, manifest, data, vectors, selection)
    release_freed_memory()
    metrics = _metrics(config, spec, evaluation, history, model, seconds, counts["train"], placement, warm)
    version_dir = export_model(
        ServingModule(model, inputs.tft_output, spec, inputs.side_table, manifest["label"]), spec,
        config.resolved_model_dir,
        extra_files={METRICS_FILE: json.dumps(metrics, indent=2) + "\n",
                     mf.MANIFEST: json.dumps(manifest, indent=2) + "\n"},
        write_extras=lambda folder: (_write_embeddings(folder, model, inputs.tft_output, vectors, evaluation, spec),
                                     model.save_weights(weights_path(folder)),
                                     _write_report(folder, metrics, spec, model, inputs.tft_output, config.input,
                                                   vectors, evaluation.interactions)))
    return TrainResult(version_dir, metrics, model, inputs.tft_output, spec)


def _read_inputs(config: TrainConfig, spec: FeatureSpec, manifest: dict) -> _Inputs:
    """The transform output, the train split (with its validation slice: early stopping and every other choice
    look at it only), the eval split, the side table and the id table."""
    tft_output = tft.TFTransformOutput(config.input)
    feature_spec = tft_output.transformed_feature_spec()
    cfg = spec.model
    counts = manifest["counts"]["kept"]
    train_files = split_files(config.input, mf.TRAIN_DIR)
    train_input = training_input(train_files, feature_spec, spec.label.column,
                                 cfg.batch_size, config.seed, counts["train"], config.in_memory,
                                 memory_budget_bytes=config.memory_budget_bytes)
    eval_ds = make_dataset(split_files(config.input, mf.EVAL_DIR), feature_spec, spec.label.column,
                           max(cfg.batch_size, 4096))
    side_table = read_side_table(config.input, manifest)
    data = TrainingData(spec, tft_output, side_table, train_input.one_pass, eval_ds, train_input.validation,
                        id_table_of(config.input, manifest, spec, config.seed))
    return _Inputs(tft_output, feature_spec, train_files, train_input, eval_ds, side_table, data)


def _keras_fit(config: TrainConfig, spec: FeatureSpec, kind: str, inputs: _Inputs, train_rows: int):
    """The function that fits a Keras model (the model calls it: trainer/model.py's fit_model) on the train split,
    validating on its slice; under a parameter server each worker reads the files itself."""
    cfg = spec.model
    train_input = inputs.train_input
    fit_input, steps_per_epoch, validation_input = train_input.dataset, train_input.steps_per_epoch, \
        train_input.validation
    if kind == "parameter_server":
        fit_input, validation_input = _worker_inputs(inputs.train_files, inputs.feature_spec, spec.label.column,
                                                     cfg.batch_size, config.seed)
        steps_per_epoch = steps_per_epoch or math.ceil(train_rows * (1 - VALIDATION_FRACTION) / cfg.batch_size)

    def fit_keras(keras_model: SpecModel, *extra: keras.callbacks.Callback) -> dict:
        callbacks = _callbacks(config.job_dir, cfg.early_stopping_patience, keras_model, extra)
        return keras_model.fit(fit_input, steps_per_epoch=steps_per_epoch,
                               validation_data=validation_input, epochs=cfg.epochs, callbacks=callbacks,
                               verbose=2 if log.isEnabledFor(logging.INFO) else 0).history  # -q: no epoch lines

    return fit_keras


def _metrics(config: TrainConfig, spec: FeatureSpec, evaluation: Evaluation, history: dict, model: SpecModel,
             seconds: float, train_rows: int, placement: dict, warm: WarmStart | None | bool) -> dict:
    """metrics.json: provenance, the evaluation's figures, how training went and what was chosen on validation."""
    metrics = {
        **mf.provenance(spec.name, config.input),
        **evaluation.metrics,
        "task": spec.label.task, "epochs_trained": len(history["loss"]),
        "best_epoch": _best_epoch(history, *model.early_stopping), "selection_metric": model.early_stopping[0],
        "selection_mode": model.early_stopping[1],
        "train_seconds": round(seconds, 2),
        "train_examples": train_rows, "seed": config.seed, "distribution": placement,
        "warm_started_from": config.warm_start_from if warm else None,
        "warm_start": dataclasses.asdict(warm) if warm else None,
        "history": {k: [float(x) for x in v] for k, v in history.items()},
    }
    if model.choices:
        metrics["chosen_on_validation"] = model.choices
    return metrics


def _worker_inputs(files: list[str], feature_spec: dict, label_key: str, batch_size: int, seed: int
                   ) -> tuple[keras.utils.experimental.DatasetCreator, keras.utils.experimental.DatasetCreator]:
    """Under a parameter server, (fit, validation) inputs that each worker builds from the files itself: the chief
    only schedules steps on them (the in-memory columns it holds would be shipped to every worker)."""
    return (keras.utils.experimental.DatasetCreator(worker_fit_fn(files, feature_spec, label_key, batch_size, seed)),
            keras.utils.experimental.DatasetCreator(worker_validation_fn(files, feature_spec, label_key, seed)))


def _chief_copy(model: SpecModel, spec: FeatureSpec, manifest: dict, data: TrainingData, sample: dict,
                cluster: distribution.Cluster, job_dir: str) -> SpecModel | None:
    """After a distributed fit: on the chief, the trained model as a plain one (no strategy); None on other workers.

    Every worker that trains saves its weights (under a parameter server,
    only the chief trains), because saving reads variables that a mirrored
    strategy aggregates across workers (a collective every worker must join);
    the others write to a temporary folder, as Keras' multi-worker
    checkpoints do.  The chief then rebuilds the model outside the strategy
    and loads them, so evaluation, export and the report run in one process
    with nothing left waiting on the other workers.
    """
    folder = os.path.join(job_dir, "trained") if cluster.is_chief else tempfile.mkdtemp(prefix="embedflow-worker-")
    model.save_weights(os.path.join(folder, "weights"))
    if not cluster.is_chief:
        tf.io.gfile.rmtree(folder)
        log.info("Trained as %s; the chief evaluates and exports", cluster.describe())
        return None
    plain = build_model(spec, manifest)
    plain.prepare(data)
    plain.build_every_layer(sample)
    plain.load_weights(os.path.join(folder, "weights")).expect_partial()  # the optimizer's state is not needed
    return plain


def _write_embeddings(folder: str, model: SpecModel, tft_output: tft.TFTransformOutput, vectors,
                      evaluation, spec: FeatureSpec) -> None:
    with timed("Wrote the embeddings (tables, tower vectors, Parquet)", log):
        write_embeddings(folder, model, tft_output, vectors, evaluation.interactions, evaluation.ranking_weights, spec)


def _best_epoch(history: dict, monitor: str, mode: str) -> int:
    values = history[monitor]
    return int(np.argmax(values) if mode == "max" else np.argmin(values)) + 1


def _write_report(folder: str, metrics: dict, spec: FeatureSpec, model: SpecModel,
                  tft_output: tft.TFTransformOutput, preprocess_dir: str, vectors, interactions) -> None:
    with timed(f"Drew the run report ({REPORT_FILE})", log):
        tables = {name: table.numpy() for name, table in model.embedding_tables().items()}
        write_report(folder, metrics, spec, tables, tft_output, preprocess_dir, vectors,
                     interactions.item_count if interactions is not None else None)


def summary_lines(metrics: dict) -> list[str]:
    lines = []
    for name in ("model", "baseline_bias", "baseline_mean", "model_label_units", "baseline_mean_label_units"):
        if name in metrics:
            values = ", ".join(f"{k} {v:.4f}" for k, v in metrics[name].items())
            lines.append(f"  {name:<26} {values}")
    if "ranking" in metrics:
        r = metrics["ranking"]
        sampled = f" sampled of {r['users_with_positives']}" if r.get("users_with_positives", 0) > r["users"] else ""
        for name in ("model", "model_rating_only", "popularity", "ease"):
            if name in r:
                values = ", ".join(f"{k} {v:.4f}" for k, v in r[name].items() if k != "l2")
                lines.append(f"  ranking {name:<18} {values} ({r['users']} users{sampled}, held-out ratings >= "
                             f"{r['positive_rating']})")
        if "ease_skipped" in r:
            lines.append(f"  ranking ease               not computed: {r['ease_skipped']}")
    return lines


if __name__ == "__main__":
    from embedflow.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
