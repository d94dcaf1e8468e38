"""The preprocess output folder's contract: its layout, manifest.json and _SUCCESS.

A folder is complete only when `_SUCCESS` exists; the trainer refuses
anything else.  The manifest is what later stages read instead of guessing:
the spec, inputs, row accounting, vocabulary sizes and embedding dimensions.
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf

from stage_contracts.errors import OutputError

MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"
TRAIN_DIR = "train"
EVAL_DIR = "eval"
REJECTED_DIR = "rejected"
SIDE_TABLE = "side_table.parquet"
ID_TABLE_DIR = "train_ids"  # the train split's ids, label and row key as Parquet shards (ratings specs only)
ID_TABLE_SUFFIX = ".parquet"
TFRECORD_SUFFIX = ".tfrecord.gz"
FORMAT_VERSION = 2  # 2: every record carries ROW_KEY
ROW_KEY = "__row_key__"  # each record's key, a hash of its raw row: not a feature (the transformed schema lacks it)


def provenance(spec_name: str, input_path: Any) -> dict:
    """What every summary a command writes (metrics.json, summary.json) says about where it came from."""
    return {"embedflow_version": product_version(), "spec": spec_name, "input": input_path}


def product_version() -> str:
    """This package's installed version (pyproject.toml), or "unknown" when run from a bare checkout."""
    from importlib import metadata

    try:
        return metadata.version("embedflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def split_pattern(output_dir: str, split: str) -> str:
    return os.path.join(output_dir, split, f"part-*{TFRECORD_SUFFIX}")


def id_table_pattern(output_dir: str) -> str:
    return os.path.join(output_dir, ID_TABLE_DIR, f"part-*{ID_TABLE_SUFFIX}")


def write_json(path: str, data: Any) -> None:
    """Write JSON through a temporary name, so a reader never sees half a file."""
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tf.io.gfile.rename(tmp, path, overwrite=True)


def read_json(path: str) -> Any:
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def mark_success(output_dir: str) -> None:
    """Written last, by rename: its presence means everything else is in place."""
    tmp = os.path.join(output_dir, f"{SUCCESS}.tmp")
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write("")
    tf.io.gfile.rename(tmp, os.path.join(output_dir, SUCCESS), overwrite=True)


def read_manifest(output_dir: str) -> dict:
    """The manifest of a complete preprocess output, or a clear error saying why it is not usable."""
    if not tf.io.gfile.exists(output_dir):
        raise OutputError(f"Preprocess output {output_dir} does not exist. Run `embedflow preprocess "
                          f"--output {output_dir}` first.")
    if not tf.io.gfile.exists(os.path.join(output_dir, SUCCESS)):
        model = _model_folder_kind(output_dir)
        if model:
            raise OutputError(f"{output_dir} is {model}, not a preprocess output. `embedflow describe --preprocessed` "
                              f"takes the folder preprocess wrote (its --output); a model version's metrics.json names "
                              f"the one it was trained from under \"input\".")
        raise OutputError(
            f"Preprocess output {output_dir} is incomplete: it has no {SUCCESS} marker, so the job that "
            f"wrote it did not finish (crashed, killed or still running). Rerun preprocess with --overwrite.")
    return read_json(os.path.join(output_dir, MANIFEST))


def check_row_keys(manifest: dict, output_dir: str) -> None:
    """Refuse a preprocess output whose records carry no ROW_KEY (written before FORMAT_VERSION 2): the trainer
    draws its validation slice by that key."""
    version = manifest.get("format_version", 1)
    if version < FORMAT_VERSION:
        raise OutputError(f"Preprocess output {output_dir} has format_version {version}: its records carry no "
                          f"{ROW_KEY}, by which train draws its validation slice. Rerun preprocess with --overwrite.")


def _model_folder_kind(folder: str) -> str | None:
    """"a model version" (a SavedModel) or "a model dir" (folders of versions), else None: what a user who gave
    a model where a preprocess output belongs gave instead."""
    if tf.io.gfile.exists(os.path.join(folder, tf.saved_model.SAVED_MODEL_FILENAME_PB)):
        return "a model version (a SavedModel)"
    children = [c.rstrip("/") for c in tf.io.gfile.listdir(folder)] if tf.io.gfile.isdir(folder) else []
    if any(c.isdigit() and tf.io.gfile.exists(os.path.join(folder, c, tf.saved_model.SAVED_MODEL_FILENAME_PB))
           for c in children):
        return "a model dir (its versions are SavedModels)"
    return None


def prepare_output(output_dir: str, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless asked to overwrite it."""
    if tf.io.gfile.exists(output_dir) and tf.io.gfile.listdir(output_dir):
        if not overwrite:
            raise OutputError(f"Output folder {output_dir} is not empty. Choose another --output, or pass "
                              f"--overwrite to replace what is there.")
        tf.io.gfile.rmtree(output_dir)
    tf.io.gfile.makedirs(output_dir)
