"""`embedflow describe --model VERSION`: a model card, printed and written as MODEL_CARD.md beside the version.

What a reader of a model version asks before using it, from the files the
version already holds: the data it learnt from (manifest.json: input,
rows read, kept per split, rejected), the spec (features, transforms,
embedding dimensions, label), how it was chosen (the epoch kept and the
metric it was kept on, on the validation slice; the ranking weights), how it
does against its baselines on the eval split (metrics.json), the gate
decisions retraining took about it (a retrain history, when given), and its
serving signatures (read from the SavedModel) with example requests built
from ids it knows.
"""

from __future__ import annotations

import json
import os

from stage_contracts import manifest as mf
from stage_contracts.errors import UserError

CARD_FILE = "MODEL_CARD.md"
METRICS_FILE = "metrics.json"
BASELINES = ("model", "baseline_bias", "baseline_mean")
RANKING_ROWS = ("model", "model_rating_only", "popularity", "ease")


def write_model_card(version_dir: str, history_path: str | None = None) -> tuple[str, str]:
    """The card as Markdown, and the path it was written to (`version_dir`/MODEL_CARD.md)."""
    card = model_card(version_dir, history_path)
    path = os.path.join(version_dir, CARD_FILE)
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(card)
    return card, path


def model_card(version_dir: str, history_path: str | None = None) -> str:
    metrics_path = os.path.join(version_dir, METRICS_FILE)
    import tensorflow as tf

    if not tf.io.gfile.exists(metrics_path):
        raise UserError(f"{version_dir} is not a model version: it has no {METRICS_FILE}. Give a version folder "
                        f"(MODEL_DIR/<version>) or a model dir (its serving version is described).")
    metrics = mf.read_json(metrics_path)
    manifest = mf.read_json(os.path.join(version_dir, mf.MANIFEST))
    spec = manifest["spec"]
    version = os.path.basename(version_dir.rstrip("/"))
    sections = [f"# Model card: {spec['name']} {spec['model']['type']} model, version {version}\n",
                f"embedflow {metrics.get('embedflow_version', '?')}, seed {metrics.get('seed')}, trained "
                f"{metrics.get('train_seconds', 0):.0f} s on {metrics.get('train_examples', 0):,} examples.\n",
                _data(manifest, metrics), _spec(spec, manifest), _selection(metrics), _metrics(metrics),
                _gate(version, history_path), _signatures(version_dir, spec)]
    return "\n".join(sections)


def _data(manifest: dict, metrics: dict) -> str:
    counts, source = manifest["counts"], manifest["input"]
    files = "".join(f"\n  - `{f['path']}` ({f['bytes']:,} bytes)" for f in source.get("files", []))
    split = manifest["spec"]["split"]
    return (f"## Data\n\n- Preprocess output: `{metrics.get('input')}` (runner {manifest.get('runner')}, finished "
            f"{manifest.get('finished_at')})\n- Input: `{source.get('path')}` ({source.get('layout')}){files}\n"
            f"- Rows: {counts['read']:,} read; kept {counts['kept']['train']:,} train + {counts['kept']['eval']:,} "
            f"eval; rejected {counts['rejected']['total']:,}\n"
            f"- Split: {split.get('eval_fraction', 0):.0%} eval by a hash of "
            f"{', '.join(split.get('key') or []) or 'the whole row'} (seed {split.get('seed')})\n")


def _spec(spec: dict, manifest: dict) -> str:
    rows = ["| feature | transform | embedding dim | ids |", "| --- | --- | --- | --- |"]
    for name, info in manifest["features"].items():
        rows.append(f"| {name} | {info.get('transform', '')} | {info.get('embedding_dim', '-')} | "
                    f"{info.get('cardinality', '-')} |")
    label = spec["label"]
    return (f"## Spec '{spec['name']}'\n\nLabel: `{label.get('column')}` ({label.get('task', 'regression')}); "
            f"model type `{spec['model']['type']}`.\n\n" + "\n".join(rows) + "\n")


def _selection(metrics: dict) -> str:
    chosen_on = metrics.get("selection_metric", "val_loss").removeprefix("val_")
    lines = [f"## Selection (on a validation slice of the train split; the eval split only reports)\n",
             f"- Epochs: {metrics['epochs_trained']} trained, epoch {metrics['best_epoch']} kept (best {chosen_on})"]
    ranking = metrics.get("ranking") or {}
    if "weights" in ranking:
        w = ranking["weights"]
        lines.append(f"- Ranking weights: rating {w['rating_weight']:g}, popularity {w['popularity_weight']:g} "
                     f"(best validation recall@{ranking['k']} of {len(ranking.get('validation_recall_by_weights', {}))}"
                     f" tried, {ranking.get('validation_users', '?')} users)")
    if metrics.get("warm_started_from"):
        lines.append(f"- Warm-started from `{metrics['warm_started_from']}`")
    return "\n".join(lines) + "\n"


def _table(rows: dict[str, dict[str, float]]) -> list[str]:
    names = [m for m in next(iter(rows.values())) if m != "l2"]
    out = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    out += [f"| {row} | " + " | ".join(f"{values.get(m, float('nan')):.4f}" for m in names) + " |"
            for row, values in rows.items()]
    return out


def _metrics(metrics: dict) -> str:
    rows = {name: metrics[name] for name in BASELINES if name in metrics}
    lines = [f"## Metrics on the eval split ({metrics.get('eval_examples', 0):,} examples)\n", *_table(rows)]
    ranking = metrics.get("ranking")
    if ranking:
        ranked = {name: ranking[name] for name in RANKING_ROWS if name in ranking}
        lines += ["", f"Top-{ranking['k']} lists against held-out ratings >= {ranking['positive_rating']} "
                      f"({ranking['users']:,} users):", "", *_table(ranked)]
    return "\n".join(lines) + "\n"


def _gate(version: str, history_path: str | None) -> str:
    if history_path is None:
        return ("## Gate\n\nNo retrain history given (`describe --model V --history WORK_DIR/history.jsonl` adds "
                "the gate decisions about this version).\n")
    from retraining.retrain import read_history

    records = [r for r in read_history(history_path) if str(r.get("version")) == version]
    if not records:
        return f"## Gate\n\n`{history_path}` records no decision about version {version}.\n"
    lines = ["## Gate\n"]
    for r in records:
        checks = "; ".join(json.dumps(c, sort_keys=True) for c in r.get("gate", [])) or "-"
        lines.append(f"- {r.get('finished_at', '?')}: **{r['decision']}**"
                     + (f" (decided by {r['decided_by']})" if r.get("decided_by") else "")
                     + (f": {r['reason']}" if r.get("reason") else "") + f"; checks: {checks}")
    return "\n".join(lines) + "\n"


def _signatures(version_dir: str, spec: dict) -> str:
    """Each signature's inputs and outputs as the SavedModel declares them, and a TF Serving REST request."""
    import tensorflow as tf

    loaded = tf.saved_model.load(version_dir)
    examples = _example_values(version_dir, spec)
    lines = ["## Serving signatures\n"]
    for name, function in loaded.signatures.items():
        inputs = function.structured_input_signature[1]
        described = ", ".join(f"`{k}` {v.dtype.name}{list(v.shape)}" for k, v in inputs.items())
        outputs = ", ".join(f"`{k}`" for k in function.structured_outputs)
        lines.append(f"- `{name}`: inputs {described}; outputs {outputs}")
    predict = loaded.signatures.get("predict")
    if predict is not None:
        inputs = predict.structured_input_signature[1]
        request = {"signature_name": "predict",
                   "inputs": {k: [examples.get(k, _placeholder(v.dtype.name))] for k, v in inputs.items()}}
        model_name = os.path.basename(os.path.dirname(os.path.abspath(version_dir)))
        lines += ["", "Example request to TF Serving (the model is named after the model dir's folder):", "",
                  "```bash", f"curl -d '{json.dumps(request)}' \\",
                  f"    http://localhost:8501/v1/models/{model_name}:predict", "```"]
    if "user_vector" in loaded.signatures:
        items = examples.get("__items__", [])
        lines += ["", "A new user's vector from the items they rated:", "", "```bash",
                  f"curl -d '{json.dumps({'signature_name': 'user_vector', 'inputs': {'item_ids': items}})}' \\",
                  f"    http://localhost:8501/v1/models/{model_name}:predict", "```"]
    return "\n".join(lines) + "\n"


def _example_values(version_dir: str, spec: dict) -> dict:
    """Ids the model knows for its id columns (embeddings/users.tsv, items.tsv), typed like the source."""
    from features.spec import spec_from_dict

    resolved = spec_from_dict(spec)
    values: dict = {}
    import tensorflow as tf

    for role, column in resolved.model.id_columns(resolved).items():
        path = os.path.join(version_dir, "embeddings", f"{role}s.tsv")
        if not tf.io.gfile.exists(path):
            continue
        with tf.io.gfile.GFile(path) as f:
            ids = [line.split("\t")[0] for line in f.read().splitlines()[1:4]]
        typed = [int(i) if resolved.column(column).type == "int" else i for i in ids]
        values[column] = typed[0]
        if role == "item":
            values["__items__"] = [str(i) for i in ids]
    return values


def _placeholder(dtype: str):
    return "" if dtype == "string" else 0
