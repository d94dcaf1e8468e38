"""What a run actually trains: the spec's model settings, tuned params and the config's overrides, resolved once.

Precedence: the config's own settings, then a tuned params file (`embedflow
tune`'s best_params.yaml), then the spec.  Tuned or scaled embedding
dimensions are written into the run's copy of the manifest, which is what
the model builder reads and what the version folder records.
"""

from __future__ import annotations

import copy
import dataclasses

import tensorflow as tf
import yaml

from stage_contracts.errors import UserError
from features.spec import FeatureSpec, spec_from_dict
from features.spec_reader import load_yaml
from trainer.config import TrainConfig

PARAM_KEYS = ("embedding_dims", "hidden_units", "learning_rate", "epochs", "batch_size")


def read_params(path: str) -> dict:
    """A params file written by `embedflow tune` (YAML or JSON): embedding_dims, hidden_units, learning_rate."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            params = load_yaml(f.read().decode("utf-8")) or {}
    except tf.errors.NotFoundError:
        raise UserError(f"Params file {path} does not exist.") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"Params file {path} is not a YAML or JSON mapping: {' '.join(str(e).split())}") from None
    if not isinstance(params, dict):
        raise UserError(f"Params file {path} holds {type(params).__name__}, not a mapping of {', '.join(PARAM_KEYS)}.")
    unknown = sorted(set(params) - set(PARAM_KEYS))
    if unknown:
        raise UserError(f"Params file {path}: unknown key(s) {', '.join(unknown)}")
    return params


def auto_sized(manifest: dict) -> dict[str, int]:
    """Categorical features whose dimension tuning searches, with their dimension: those sized by the fourth-root
    rule, and a two-tower model's user and item ids (its main tables) however the spec sizes them."""
    spec = spec_from_dict(manifest["spec"])
    ids = {getattr(spec.model, "user_id", None), getattr(spec.model, "item_id", None)}
    return {f.name: manifest["features"][f.name]["embedding_dim"]
            for f in spec.features if f.is_categorical and (f.embedding_dim == "auto" or f.name in ids)}


def scaled_dims(manifest: dict, scale: float) -> dict[str, int]:
    """Every auto-sized embedding dimension multiplied by `scale` (the knob tuning turns)."""
    return {name: max(1, round(dim * scale)) for name, dim in auto_sized(manifest).items()}


def _set_dims(manifest: dict, dims: dict[str, int]) -> None:
    for name, dim in dims.items():
        if name not in manifest["features"] or "embedding_dim" not in manifest["features"][name]:
            raise UserError(f"Params: '{name}' is not a categorical feature of this preprocess output")
        manifest["features"][name]["embedding_dim"] = int(dim)


def resolve(config: TrainConfig, manifest: dict) -> tuple[FeatureSpec, dict]:
    """The spec with every override applied, and the run's copy of the manifest with its embedding dimensions."""
    manifest = copy.deepcopy(manifest)
    overrides = config.overrides()
    if config.params:
        params = read_params(config.params)
        _set_dims(manifest, params.get("embedding_dims") or {})
        for key in ("hidden_units", "learning_rate", "epochs", "batch_size"):
            if params.get(key) is not None and key not in overrides:
                overrides[key] = tuple(params[key]) if key == "hidden_units" else params[key]
    if config.embedding_scale:
        _set_dims(manifest, scaled_dims(manifest, config.embedding_scale))
    spec = spec_from_dict(manifest["spec"])
    model = spec.model.with_training(**overrides)
    if config.exclude_features:
        model = model.without_features(list(config.exclude_features), spec)
    return dataclasses.replace(spec, model=model), manifest
