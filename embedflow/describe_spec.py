"""`embedflow describe`: print a spec as resolved: every feature, its transform and embedding dimension.

With `--model`, a model version's card instead (embedflow/model_card.py).

Dimensions of vocabulary features depend on the data; given a preprocess
output (`--preprocessed`), the manifest's actual sizes are shown, and the
statistics of its train and eval splits (stage_contracts/statistics.py).
"""

from __future__ import annotations

import argparse
import os

from features.spec import FeatureSpec, load_spec
from features.transforms import Feature


def _dimension(f: Feature, manifest: dict | None) -> str:
    if not f.is_categorical:
        return "- (numeric input)"
    rule = "auto" if f.embedding_dim == "auto" else "set"
    if manifest:
        info = manifest["features"][f.name]
        return f"{info['embedding_dim']} ({rule}; {info['cardinality']} ids)"
    cardinality = f.cardinality()
    if cardinality is None:  # a vocabulary: its size is known once preprocess has counted it
        return ("auto: round(ids ** 0.25), ids known after preprocess" if f.embedding_dim == "auto"
                else f"{f.embedding_dim} (set)")
    return f"{f.embedding_size(cardinality)} ({rule}; {cardinality} ids)"


def describe(spec: FeatureSpec, manifest: dict | None = None) -> str:
    lines = [f"Spec '{spec.name}' ({spec.path})", f"Source: {spec.source.format}"
             + (f", path {spec.source.path}" if spec.source.path else "")]
    lines.append("Columns:")
    for c in spec.columns:
        bounds = {(True, True): "", (False, True): f", >= {c.min}", (True, False): f", <= {c.max}",
                  (False, False): f", in [{c.min}, {c.max}]"}[(c.min is None, c.max is None)]
        need = "required" if c.required else f"optional (empty -> {c.missing or 'no value'})"
        lines.append(f"  {c.name:<28} {c.type:<7} {need}{bounds}")
    if spec.join:
        lines.append(f"Join: {spec.join.table or spec.join.path} on {spec.join.key}, adds {', '.join(spec.join.columns)}")
    for d in spec.derived:
        lines.append(f"Derived: {d.name} = {d.describe()}")
    lines.append("Features:")
    lines.append(f"  {'name':<26} {'transform':<19} {'from':<34} {'options':<34} embedding dim")
    for f in spec.features:
        lines.append(f"  {f.name:<26} {f.kind:<19} {f.origin():<34} {f.describe_options():<34} "
                     f"{_dimension(f, manifest)}")
    lines.append(f"Label: {spec.label.column} ({spec.label.task}"
                 + (f", {spec.label.transform} transform" if spec.label.transform != "none" else "") + ")")
    key = ", ".join(spec.split.key) or "the whole row"
    lines.append(f"Split: {spec.split.eval_fraction:.0%} eval, by a hash of {key}, seed {spec.split.seed}")
    lines.append(spec.model.describe())
    lines.append(spec.model.describe_training())
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", default="movielens", help="built-in spec name or path to a spec YAML")
    parser.add_argument("--preprocessed", help="a preprocess output: show its actual sizes and dimensions, and its "
                                               "splits' statistics")
    parser.add_argument("--model", help="a model version folder, or a model dir (its serving version): print its "
                                        "model card and write it beside the version as MODEL_CARD.md")
    parser.add_argument("--history", help="with --model: a retrain history (WORK_DIR/history.jsonl) whose gate "
                                          "decisions about the version join the card")


def main_from_args(args: argparse.Namespace, _extra: list[str]) -> None:
    if args.model:
        from stage_contracts.arguments import check_argument

        check_argument("describe", "model", args.model, "existing_path", folder=True)
        check_argument("describe", "history", args.history, "existing_path", optional=True)
        from embedflow.model_card import write_model_card
        from stage_contracts.model_dir import resolve_version

        card, path = write_model_card(resolve_version(args.model), args.history)
        print(card + f"\n(written to {path})")
        return
    manifest = None
    spec = load_spec(args.spec)
    if args.preprocessed:
        from stage_contracts.manifest import read_manifest

        manifest = read_manifest(args.preprocessed)
    print(describe(spec, manifest))
    if args.preprocessed:
        print(describe_statistics(args.preprocessed))


def describe_statistics(preprocess_dir: str) -> str:
    """The splits' statistics as a table, or why there are none."""
    from stage_contracts.statistics import STATISTICS_PICTURE, load_statistics, statistics_table

    stats = load_statistics(preprocess_dir)
    if stats is None:
        return "Statistics: none (preprocessed with --no-statistics)"
    return f"{statistics_table(stats)}\nPicture: {os.path.join(preprocess_dir, STATISTICS_PICTURE)}"
