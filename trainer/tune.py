"""`embedflow tune`: search embedding dimensions around the fourth-root rule, and show the trade-off.

More dimensions represent relationships more accurately but risk
overfitting, grow the model and slow training.  The search scales every
`auto`-sized embedding by factors around 1 (default 0.6 .. 1.4, i.e. about
±40%: 15 to 35 for 500,000 items), optionally crossed with hidden units and
learning rates, and trains each trial as `embedflow train` does.  The
best trial is chosen on the validation slice carved from the train split
(trainer/data.py): each trial's own early-stopping metric (recall@10 on
that slice for a model with a retrieval objective, else its loss there) at
its best epoch.  The eval split only reports: its metric is recorded beside
the choice and never ranks trials.  Each trial also records validation and
train loss, parameter count, model size on disk and training time.  Trials are appended to `trials.jsonl` as they finish, so an
interrupted search resumes where it stopped: a trial is reused only when its
parameters and every setting it was trained with (input and its preprocess
run, spec, epochs, batch size, seed) match.  Training speed is compared as
the median epoch time after each trial's first epoch, which also carries
graph tracing and input loading.  The best configuration is written to
`best_params.yaml`, which `embedflow train --params` accepts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import os
import time

import numpy as np
import tensorflow as tf
import yaml

from stage_contracts import manifest as mf
from stage_contracts.errors import UserError
from stage_contracts.interrupt import raise_if_interrupted
from features.spec import spec_from_dict
from trainer.config import TrainConfig, TuneConfig
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


def search_settings(preprocess_dir: str, manifest: dict, epochs: int | None, batch_size: int | None,
                    seed: int) -> dict:
    """Everything besides the params that a trial's result depends on: a trial trained otherwise is not reused."""
    spec_text = json.dumps(manifest["spec"], sort_keys=True)
    return {"input": os.path.abspath(preprocess_dir) if "://" not in preprocess_dir else preprocess_dir,
            "preprocessed_at": manifest.get("finished_at"), "spec": manifest["spec"]["name"],
            "spec_sha256": hashlib.sha256(spec_text.encode()).hexdigest()[:16], "epochs": epochs,
            "batch_size": batch_size, "seed": seed}


def trial_key(params: dict, settings: dict) -> str:
    return json.dumps({"params": params, "settings": settings}, sort_keys=True)


def run_trial(preprocess_dir: str, trial_dir: str, params: dict, settings: dict) -> dict:
    params_path = os.path.join(trial_dir, "params.yaml")
    tf.io.gfile.makedirs(trial_dir)
    with tf.io.gfile.GFile(params_path, "w") as f:
        f.write(yaml.safe_dump(params))
    started = time.time()
    result = train(TrainConfig(input=preprocess_dir, job_dir=os.path.join(trial_dir, "job"),
                               model_dir=os.path.join(trial_dir, "model"), seed=settings["seed"], params=params_path,
                               epochs=settings["epochs"], batch_size=settings["batch_size"]))
    seconds = time.time() - started
    history = result.metrics["history"]
    best = result.metrics["best_epoch"] - 1
    main = {"binary_classification": "auc", "multiclass_classification": "log_loss"}.get(result.spec.label.task, "rmse")
    epoch_seconds = history.get("epoch_seconds", [seconds])
    return {
        "params": params,
        "settings": settings,
        "selection": selection_of(result.metrics),
        "eval_" + main: result.metrics["model"][main],
        "validation_loss_best": float(history["val_loss"][best]),
        "train_loss_at_best": float(history["loss"][best]),
        "train_loss_final": float(history["loss"][-1]),
        "validation_loss_final": float(history["val_loss"][-1]),
        "epochs": len(history["loss"]),
        "parameters": int(result.model.count_params()),
        "model_bytes": _folder_bytes(result.version_dir),
        "train_seconds": round(seconds, 2),
        "epoch_seconds": round(float(np.median(epoch_seconds[1:] or epoch_seconds)), 3),  # first epoch: warm-up
        "curves": {key: [float(x) for x in history[key]]
                   for key in dict.fromkeys(("loss", "val_loss", result.metrics["selection_metric"]))},
    }


def selection_of(metrics: dict) -> dict:
    """What a trial is ranked by: its early-stopping metric at its best epoch, read from the training history, which
    Keras computed on the validation slice (`validation_data` in trainer/task.py), never on the eval split."""
    monitor = metrics["selection_metric"]
    return {"metric": monitor, "mode": metrics["selection_mode"], "on": "validation",
            "value": float(metrics["history"][monitor][metrics["best_epoch"] - 1])}


def tune(config: TuneConfig) -> dict:
    """Run (or resume) the search a TuneConfig describes; write the report and best params; return the best
    trial."""
    preprocess_dir, out_dir = config.input, config.output
    manifest = mf.read_manifest(preprocess_dir)
    grid = trial_grid(manifest, config.factors or DEFAULT_FACTORS, config.dims, config.hidden_units,
                      config.learning_rates)
    settings = search_settings(preprocess_dir, manifest, config.epochs, config.batch_size, config.seed)
    tf.io.gfile.makedirs(out_dir)
    trials_path = os.path.join(out_dir, TRIALS)
    finished = {trial_key(t["params"], t.get("settings")): t for t in read_trials(out_dir)
                if "selection" in t}  # older trials were ranked on the eval split: trained again
    done, trained, started = [], 0, time.time()
    for i, params in enumerate(grid):
        key = trial_key(params, settings)
        if key in finished:
            log.info("Trial %d/%d already done with the same settings (resuming): %s", i + 1, len(grid),
                     json.dumps(params))
            done.append(finished[key])
            continue
        log.info("Trial %d/%d: %s", i + 1, len(grid), json.dumps(params))
        trial = run_trial(preprocess_dir, os.path.join(out_dir, f"trial-{i:03d}"), params, settings)
        with tf.io.gfile.GFile(trials_path, "a") as f:
            f.write(json.dumps(trial, sort_keys=True) + "\n")
        raise_if_interrupted()  # a Ctrl-C swallowed during the trial stops the search here (finished trials resume)
        done.append(trial)
        trained += 1
        left = (time.time() - started) / trained * (len(grid) - i - 1)
        log.info("Trial %d/%d done in %.0f s: %s (reported: %s %.4f)%s", i + 1, len(grid), trial["train_seconds"],
                 _chosen_on(trial), _eval_metric(trial).replace("_", " "), trial[_eval_metric(trial)],
                 f"; about {left / 60:.1f} min left" if i + 1 < len(grid) else "")
    best = write_report(done, out_dir, primary_feature(manifest))
    return best


def _eval_metric(trial: dict) -> str:
    """The eval split's main metric a trial reports (never ranks by)."""
    return next(k for k in ("eval_auc", "eval_log_loss", "eval_rmse") if k in trial)


def _chosen_on(trial: dict) -> str:
    selection = trial["selection"]
    return f"validation {_short(selection['metric'])} {selection['value']:.4f}"


def _short(monitor: str) -> str:
    """A history key as people read it: val_recall_at_10 -> recall@10, val_loss -> loss."""
    return monitor.removeprefix("val_").replace("_at_", "@")


def best_trial(trials: list[dict]) -> dict:
    """The trial with the best validation-slice selection metric; eval figures play no part."""
    pick = max if trials[0]["selection"]["mode"] == "max" else min
    return pick(trials, key=lambda t: t["selection"]["value"])


def read_trials(out_dir: str) -> list[dict]:
    path = os.path.join(out_dir, TRIALS)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_report(trials: list[dict], out_dir: str, primary: str) -> dict:
    """report.md (a table), report.csv, report.png (metric vs dimension) and best_params.yaml.

    The best trial is `best_trial`'s: chosen on the validation slice; the eval column is reported beside it.
    """
    best = best_trial(trials)
    chosen_on, reported = f"validation {_short(best['selection']['metric'])}", _eval_metric(best)
    rows = sorted(trials, key=lambda t: (t["params"]["embedding_dims"][primary], json.dumps(t["params"])))
    header = ["dim", "params", f"{chosen_on} (chooses)", f"{reported.replace('_', ' ')} (reports)",
              "validation loss (best)", "train loss (best)", "validation loss (last)", "train loss (last)", "epochs",
              "parameters", "model MB", "seconds", "s/epoch", "best"]
    table = []
    for t in rows:
        table.append([t["params"]["embedding_dims"][primary], json.dumps(t["params"], sort_keys=True),
                      f"{t['selection']['value']:.4f}", f"{t[reported]:.4f}", f"{t['validation_loss_best']:.4f}",
                      f"{t['train_loss_at_best']:.4f}", f"{t['validation_loss_final']:.4f}",
                      f"{t['train_loss_final']:.4f}", t["epochs"], t["parameters"], f"{t['model_bytes'] / 1e6:.2f}",
                      t["train_seconds"], t.get("epoch_seconds", ""), "yes" if t is best else ""])
    lines = ["| " + " | ".join(header[:-1]) + " |", "|" + "---|" * (len(header) - 1)]
    for values in table:
        cells = [str(v).replace("|", "/") for v in values[:-1]]
        lines.append("| " + " | ".join(cells) + (" **best**" if values[-1] else "") + " |")
    with tf.io.gfile.GFile(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(f"# Embedding dimension search ({primary})\n\n" + "\n".join(lines) + "\n\n"
                f"Best: {json.dumps(best['params'])} with {_chosen_on(best)} "
                f"({'highest' if best['selection']['mode'] == 'max' else 'lowest'} wins), "
                f"chosen on the validation slice of the train split; {reported.replace('_', ' ')} "
                f"{best[reported]:.4f} is reported only: the eval split ranks nothing.\n"
                "s/epoch: median epoch time after the first epoch (which also traces the graph and loads data).\n")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([h.replace(" ", "_").replace("(", "").replace(")", "").replace("/", "_per_") for h in header])
    writer.writerows(table)
    with tf.io.gfile.GFile(os.path.join(out_dir, "report.csv"), "w") as f:
        f.write(buf.getvalue())
    _plot(rows, rows.index(best), primary, os.path.join(out_dir, "report.png"))
    with tf.io.gfile.GFile(os.path.join(out_dir, BEST), "w") as f:
        f.write(yaml.safe_dump({k: v for k, v in best["params"].items()}))
    return best


def _plot(rows: list[dict], best: int, primary: str, path: str) -> None:
    """Three panels: the validation metric the best trial is chosen on (and the eval metric, reported only) vs
    dimension, learning curves (small, best, large), cost vs dimension.

    The x axes are ticked at the dimensions tried, and the best trial is starred on the curve it was chosen by.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [t["params"]["embedding_dims"][primary] for t in rows]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(17, 4.8), dpi=100)
    _plot_choice(left, rows, best, dims)
    _plot_learning_curves(middle, rows, best, dims)
    _plot_cost(right, rows, dims)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(dims)))
        ax.set_xticklabels([str(d) for d in sorted(set(dims))])
        ax.minorticks_off()
        ax.set_xlabel(f"embedding dimension of {primary}")
        ax.axvline(dims[best], color="gold", linewidth=1, zorder=0)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buf.getvalue())


def _plot_choice(left, rows: list[dict], best: int, dims: list[int]) -> None:
    """The validation metric that chooses, the best trial starred on it, and the eval metric on a twin axis."""
    selection, reported = rows[best]["selection"], _eval_metric(rows[best])
    name = _short(selection["metric"])
    chosen = left.plot(dims, [t["selection"]["value"] for t in rows], "o-", color="black",
                       label=f"validation {name} (chooses)")
    chosen += left.plot([dims[best]], [selection["value"]], "*", color="gold", markersize=18, markeredgecolor="black",
                        label=f"best: dim {dims[best]}", zorder=5)
    left.set_ylabel(f"validation {name}")
    eval_axis = left.twinx()
    chosen += eval_axis.plot(dims, [t[reported] for t in rows], "o:", color="tab:gray",
                             label=f"{reported.replace('_', ' ')} (reported only)")
    eval_axis.set_ylabel(reported.replace("_", " "))
    left.set_zorder(eval_axis.get_zorder() + 1)  # the chosen curve and its star above the reported one
    left.patch.set_visible(False)
    left.set_title(f"Chosen on the validation slice: {'highest' if selection['mode'] == 'max' else 'lowest'} {name}",
                   fontsize=10)
    left.legend(chosen, [line.get_label() for line in chosen], fontsize=8)


def _plot_learning_curves(middle, rows: list[dict], best: int, dims: list[int]) -> None:
    """Train and validation loss per epoch of the smallest, the best and the largest trial."""
    for i, colour in zip(sorted({0, best, len(rows) - 1}), ("tab:blue", "tab:green", "tab:red")):
        curves = rows[i]["curves"]
        epochs = range(1, len(curves["loss"]) + 1)
        tag = f"dim {dims[i]}" + (" (best)" if i == best else "")
        middle.plot(epochs, curves["loss"], "-", color=colour, label=f"{tag} train")
        middle.plot(epochs, curves["val_loss"], "--", color=colour, label=f"{tag} validation")
    middle.set_xlabel("epoch")
    middle.set_ylabel("loss")
    middle.set_title("Learning curves: validation rising while train falls = overfitting", fontsize=10)
    middle.legend(fontsize=8)


def _plot_cost(right, rows: list[dict], dims: list[int]) -> None:
    """Parameters and seconds per epoch against dimension."""
    right.plot(dims, [t["parameters"] / 1e3 for t in rows], "o-", color="tab:purple", label="parameters (k)")
    right.set_ylabel("parameters (thousands)")
    twin = right.twinx()
    twin.plot(dims, [t.get("epoch_seconds", t["train_seconds"]) for t in rows], "s--", color="tab:green",
              label="seconds per epoch (after the first)")
    twin.set_ylabel("seconds per epoch")
    twin.set_ylim(bottom=0)
    right.set_title("Cost vs dimension", fontsize=10)
    right.legend(loc="upper left")
    twin.legend(loc="lower right")
