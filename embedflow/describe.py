"""`embedflow describe`: print a spec as resolved: every feature, its transform and embedding dimension.

Dimensions of vocabulary features depend on the data; given a preprocess
output (`--preprocessed`), the manifest's actual sizes are shown.
"""

from __future__ import annotations

import argparse

from beam_jobs.spec import Feature, FeatureSpec, categorical_cardinality, embedding_dim_for, load_spec


def _options(f: Feature) -> str:
    if f.transform == "vocabulary":
        parts = [f"{f.num_oov_buckets} OOV bucket(s)"]
        if f.top_k:
            parts.append(f"top {f.top_k}")
        if f.frequency_threshold > 1:
            parts.append(f"min count {f.frequency_threshold}")
        if f.separator:
            parts.append(f"multivalent, split on {f.separator!r}")
        return ", ".join(parts)
    if f.transform == "quantile_bucketize":
        return f"{f.num_buckets} quantile buckets"
    if f.transform == "hashed_cross":
        return f"hashed into {f.hash_buckets} buckets"
    return "log1p, then z-score" if f.log else "z-score"


def _dimension(f: Feature, manifest: dict | None) -> str:
    if not f.is_categorical:
        return "- (numeric input)"
    rule = "auto" if f.embedding_dim == "auto" else "set"
    if manifest:
        info = manifest["features"][f.name]
        return f"{info['embedding_dim']} ({rule}; {info['cardinality']} ids)"
    if f.transform == "vocabulary":
        return ("auto: round(ids ** 0.25), ids known after preprocess" if f.embedding_dim == "auto"
                else f"{f.embedding_dim} (set)")
    cardinality = categorical_cardinality(f)
    return f"{embedding_dim_for(f, cardinality)} ({rule}; {cardinality} ids)"


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
        how = f"regex {d.pattern!r} on {d.inputs[0]}" if d.kind == "regex_extract" else f"{d.inputs[0]} / {d.inputs[1]}"
        lines.append(f"Derived: {d.name} = {how}")
    lines.append("Features:")
    lines.append(f"  {'name':<26} {'transform':<19} {'from':<34} {'options':<34} embedding dim")
    for f in spec.features:
        source = " x ".join(f.cross) if f.cross else f.source
        lines.append(f"  {f.name:<26} {f.transform:<19} {source:<34} {_options(f):<34} {_dimension(f, manifest)}")
    lines.append(f"Label: {spec.label.column} ({spec.label.task}"
                 + (f", {spec.label.transform} transform" if spec.label.transform != "none" else "") + ")")
    key = ", ".join(spec.split.key) or "the whole row"
    lines.append(f"Split: {spec.split.eval_fraction:.0%} eval, by a hash of {key}, seed {spec.split.seed}")
    m = spec.model
    if m.type == "two_tower":
        lines.append(f"Model: two_tower; user tower {list(m.user_features)}, item tower {list(m.item_features)}, "
                     f"hidden {list(m.hidden_units)}, output {m.output_dim}")
    else:
        lines.append(f"Model: dnn on {list(m.features) or 'all features'}, hidden {list(m.hidden_units)}")
    lines.append(f"Training: learning rate {m.learning_rate}, batch {m.batch_size}, up to {m.epochs} epochs, "
                 f"early stopping after {m.early_stopping_patience}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", default="movielens", help="built-in spec name or path to a spec YAML")
    parser.add_argument("--preprocessed", help="a preprocess output: show its actual sizes and dimensions")


def main_from_args(args: argparse.Namespace, _extra: list[str]) -> None:
    manifest = None
    spec = load_spec(args.spec)
    if args.preprocessed:
        from beam_jobs.manifest import read_manifest

        manifest = read_manifest(args.preprocessed)
    print(describe(spec, manifest))
