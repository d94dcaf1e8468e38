"""`embedflow tune`: search embedding dimensions around the fourth-root rule, and show the trade-off.

More dimensions represent relationships more accurately but risk
overfitting, grow the model and slow training.  The search scales every
`auto`-sized embedding by factors around 1 (default 0.6 .. 1.4, i.e. about
±40%: 15 to 35 for 500,000 items), optionally crossed with hidden units and
learning rates, trains each trial with early stopping on the eval split, and
records eval and train loss, parameter count, model size on disk and
training time.  Trials are appended to `trials.jsonl` as they finish, so an
interrupted search resumes where it stopped.  The best configuration is
written to `best_params.yaml`, which `embedflow train --params` accepts.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import time

import numpy as np
import tensorflow as tf
import yaml

from features import manifest as mf
from features.errors import UserError
from features.spec import spec_from_dict
from trainer.config import TrainConfig
from trainer.settings import auto_sized, scaled_dims
from trainer.task import train

log = logging.getLogger(__name__)
DEFAULT_FACTORS = (0.6, 0.8, 1.0, 1.2, 1.4)
TRIALS = "trials.jsonl"
BEST = "best_params.yaml"


def primary_feature(manifest: dict) -> str:
    """The feature a trial is labelled by: the item id of a two-tower model, else the largest table."""
    primary = spec_from_dict(manifest["spec"]).model.primary_feature
    if primary:
        return primary
    sized = auto_sized(manifest)
    return max(sized, key=lambda n: manifest["features"][n]["cardinality"])


def trial_grid(manifest: dict, factors=DEFAULT_FACTORS, dims: list[int] | None = None,
               hidden_units: list[tuple[int, ...]] | None = None,
               learning_rates: list[float] | None = None) -> list[dict]:
    """Every combination to try: embedding dims (scaled or given for the primary feature) x units x rates."""
    sized = auto_sized(manifest)
    if not sized:
        raise UserError("The spec has no embedding with embedding_dim: auto to tune.")
    primary = primary_feature(manifest)
    base = sized[primary]
    scales = [d / base for d in dims] if dims else list(factors)
    options = []
    for scale in scales:
        embedding = scaled_dims(manifest, scale)
        if embedding not in options:
            options.append(embedding)
    combos = itertools.product(options, hidden_units or [None], learning_rates or [None])
    return [{k: v for k, v in {"embedding_dims": e, "hidden_units": list(h) if h else None,
                               "learning_rate": r}.items() if v is not None} for e, h, r in combos]


def _folder_bytes(path: str) -> int:
    total = 0
    for root, _, files in tf.io.gfile.walk(path):
        total += sum(tf.io.gfile.stat(os.path.join(root, f)).length for f in files)
    return total


def run_trial(preprocess_dir: str, trial_dir: str, params: dict, epochs: int | None, seed: int) -> dict:
    params_path = os.path.join(trial_dir, "params.yaml")
    tf.io.gfile.makedirs(trial_dir)
    with tf.io.gfile.GFile(params_path, "w") as f:
        f.write(yaml.safe_dump(params))
    started = time.time()
    result = train(TrainConfig(input=preprocess_dir, job_dir=os.path.join(trial_dir, "job"),
                               model_dir=os.path.join(trial_dir, "model"), seed=seed, params=params_path, epochs=epochs))
    seconds = time.time() - started
    history = result.metrics["history"]
    best = int(np.argmin(history["val_loss"]))
    main = "auc" if result.spec.label.is_binary else "rmse"
    return {
        "params": params,
        "eval_" + main: result.metrics["model"][main],
        "eval_loss_best": float(history["val_loss"][best]),
        "train_loss_at_best": float(history["loss"][best]),
        "train_loss_final": float(history["loss"][-1]),
        "eval_loss_final": float(history["val_loss"][-1]),
        "epochs": len(history["loss"]),
        "parameters": int(result.model.count_params()),
        "model_bytes": _folder_bytes(result.version_dir),
        "train_seconds": round(seconds, 2),
        "curves": {"loss": [float(x) for x in history["loss"]], "val_loss": [float(x) for x in history["val_loss"]]},
    }


def tune(preprocess_dir: str, out_dir: str, factors=DEFAULT_FACTORS, dims: list[int] | None = None,
         hidden_units=None, learning_rates=None, epochs: int | None = None, seed: int = 42) -> dict:
    """Run (or resume) the search; write the report and best params; return the best trial."""
    manifest = mf.read_manifest(preprocess_dir)
    grid = trial_grid(manifest, factors, dims, hidden_units, learning_rates)
    tf.io.gfile.makedirs(out_dir)
    trials_path = os.path.join(out_dir, TRIALS)
    done = read_trials(out_dir)
    finished = {json.dumps(t["params"], sort_keys=True) for t in done}
    for i, params in enumerate(grid):
        key = json.dumps(params, sort_keys=True)
        if key in finished:
            log.info("Trial %d/%d already done (resuming): %s", i + 1, len(grid), key)
            continue
        log.info("Trial %d/%d: %s", i + 1, len(grid), key)
        trial = run_trial(preprocess_dir, os.path.join(out_dir, f"trial-{i:03d}"), params, epochs, seed)
        with tf.io.gfile.GFile(trials_path, "a") as f:
            f.write(json.dumps(trial, sort_keys=True) + "\n")
        done.append(trial)
    wanted = {json.dumps(p, sort_keys=True) for p in grid}
    done = [t for t in done if json.dumps(t["params"], sort_keys=True) in wanted]  # this grid's trials only
    best = write_report(done, out_dir, primary_feature(manifest))
    return best


def read_trials(out_dir: str) -> list[dict]:
    path = os.path.join(out_dir, TRIALS)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_report(trials: list[dict], out_dir: str, primary: str) -> dict:
    """report.md (a table), report.csv, report.png (metric vs dimension) and best_params.yaml."""
    metric = "eval_auc" if "eval_auc" in trials[0] else "eval_rmse"
    higher_better = metric == "eval_auc"
    best = (max if higher_better else min)(trials, key=lambda t: t[metric])
    rows = sorted(trials, key=lambda t: (t["params"]["embedding_dims"][primary], json.dumps(t["params"])))
    header = ["dim", "params", metric, "eval loss (best)", "train loss (best)", "eval loss (last)",
              "train loss (last)", "epochs", "parameters", "model MB", "seconds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    csv_lines = [",".join(h.replace(" ", "_") for h in header)]
    for t in rows:
        values = [t["params"]["embedding_dims"][primary], json.dumps(t["params"]).replace(",", ";").replace("|", "/"),
                  f"{t[metric]:.4f}", f"{t['eval_loss_best']:.4f}", f"{t['train_loss_at_best']:.4f}",
                  f"{t['eval_loss_final']:.4f}", f"{t['train_loss_final']:.4f}", t["epochs"], t["parameters"], f"{t['model_bytes'] / 1e6:.2f}",
                  t["train_seconds"]]
        mark = " **best**" if t is best else ""
        lines.append("| " + " | ".join(str(v) for v in values) + mark + " |")
        csv_lines.append(",".join(str(v) for v in values))
    with tf.io.gfile.GFile(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(f"# Embedding dimension search ({primary})\n\n" + "\n".join(lines) + "\n\n"
                f"Best: {json.dumps(best['params'])} with {metric} {best[metric]:.4f}\n")
    with tf.io.gfile.GFile(os.path.join(out_dir, "report.csv"), "w") as f:
        f.write("\n".join(csv_lines) + "\n")
    _plot(rows, metric, primary, os.path.join(out_dir, "report.png"))
    with tf.io.gfile.GFile(os.path.join(out_dir, BEST), "w") as f:
        f.write(yaml.safe_dump({k: v for k, v in best["params"].items()}))
    return best


def _plot(rows: list[dict], metric: str, primary: str, path: str) -> None:
    """Three panels: loss vs dimension, learning curves (small, best, large), cost vs dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [t["params"]["embedding_dims"][primary] for t in rows]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(17, 4.8), dpi=100)
    left.plot(dims, [t["eval_loss_best"] for t in rows], "o-", label="eval loss (best epoch)")
    left.plot(dims, [t["train_loss_at_best"] for t in rows], "s--", label="train loss (same epoch)")
    left.set_xscale("log", base=2)
    left.set_xlabel(f"embedding dimension of {primary}")
    left.set_ylabel("loss")
    left.set_title("Fit vs dimension")
    left.legend()
    best = min(range(len(rows)), key=lambda i: rows[i]["eval_loss_best"])
    for i, colour in zip(sorted({0, best, len(rows) - 1}), ("tab:blue", "tab:green", "tab:red")):
        curves = rows[i]["curves"]
        epochs = range(1, len(curves["loss"]) + 1)
        middle.plot(epochs, curves["loss"], "-", color=colour, label=f"dim {dims[i]} train")
        middle.plot(epochs, curves["val_loss"], "--", color=colour, label=f"dim {dims[i]} eval")
    middle.set_xlabel("epoch")
    middle.set_ylabel("loss")
    middle.set_title("Learning curves: eval rises while train falls = overfitting")
    middle.legend(fontsize=8)
    right.plot(dims, [t["parameters"] / 1e3 for t in rows], "o-", color="tab:purple", label="parameters (k)")
    right.set_xscale("log", base=2)
    right.set_xlabel(f"embedding dimension of {primary}")
    right.set_ylabel("parameters (thousands)")
    twin = right.twinx()
    twin.plot(dims, [t["train_seconds"] for t in rows], "s--", color="tab:green", label="training seconds")
    twin.set_ylabel("training seconds")
    right.set_title("Cost vs dimension")
    right.legend(loc="upper left")
    twin.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buf.getvalue())


