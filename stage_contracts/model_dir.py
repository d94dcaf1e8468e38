"""A model dir: version folders in TF Serving's layout, and the `serving` pointer that says which one serves.

    MODEL_DIR/<version>/      integer versions (seconds since the epoch), each appearing whole by rename
    MODEL_DIR/serving         the version that serves, replaced atomically (write a new file, rename over)
    MODEL_DIR/models.config   the same for TF Serving: a model_config_list whose `specific` version policy
                              names the serving version; TF Serving started with --model_config_file and
                              --model_config_file_poll_wait_seconds reloads it, so it follows promotions

The trainer writes versions, retraining promotes and rolls back, and every
use of a model (similar, recommend, recommend-all, projector, map) resolves
a model dir to a version here.  All paths go through `tf.io.gfile`, so the
same code works on local disks and gs://.
"""

from __future__ import annotations

import os
import time

import tensorflow as tf

from stage_contracts.errors import UserError

SERVING_POINTER = "serving"
SAVED_MODEL = "saved_model.pb"
TF_SERVING_CONFIG = "models.config"


def new_version() -> int:
    """A TF Serving version number: seconds since the epoch, so newer is larger."""
    return int(time.time())


def versions(model_dir: str) -> list[str]:
    """Version folders, oldest first."""
    if not tf.io.gfile.isdir(model_dir):
        return []
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(model_dir))
    return sorted((name for name in names if name.isdigit()), key=int)


def serving_version(model_dir: str) -> str | None:
    """The version the `serving` pointer names, or None when nothing has been promoted."""
    pointer = os.path.join(model_dir, SERVING_POINTER)
    if not tf.io.gfile.exists(pointer):
        return None
    with tf.io.gfile.GFile(pointer) as f:
        return f.read().strip() or None


def switch_serving(model_dir: str, version: str) -> None:
    """Point serving at `version`: the pointer, then TF Serving's config, each replaced atomically.

    The pointer goes first: it is what retraining recovers from, and `write_tf_serving_config` is safe to
    repeat (a run killed between the two is completed by the next run's reconciliation).
    """
    _replace(os.path.join(model_dir, SERVING_POINTER), version + "\n")
    write_tf_serving_config(model_dir)


def write_tf_serving_config(model_dir: str) -> str | None:
    """TF Serving's models.config for the serving version (none while nothing serves); returns its path.

    The model is named after the model dir's folder; `base_path` is the model dir's absolute path (or its
    gs:// URL), so a TF Serving container mounts the dir at that same path (docs/serving.md, "TF Serving").
    """
    version = serving_version(model_dir)
    if version is None:
        return None
    base = model_dir if "://" in model_dir else os.path.abspath(model_dir)
    name = os.path.basename(base.rstrip("/"))
    text = ("model_config_list {\n"
            "  config {\n"
            f'    name: "{name}"\n'
            f'    base_path: "{base}"\n'
            '    model_platform: "tensorflow"\n'
            f"    model_version_policy {{ specific {{ versions: {int(version)} }} }}\n"
            "  }\n"
            "}\n")
    path = os.path.join(model_dir, TF_SERVING_CONFIG)
    _replace(path, text)
    return path


def _replace(path: str, text: str) -> None:
    """Write a new file beside `path`, then rename it over `path`: a reader sees the old or the new, whole."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def resolve_version(path: str) -> str:
    """A model version folder from a version folder, or a model dir (its serving pointer, else its latest version)."""
    if tf.io.gfile.exists(os.path.join(path, SAVED_MODEL)):
        return path
    if not tf.io.gfile.isdir(path):
        raise UserError(f"Model {path} does not exist. Give a model version folder or a model dir holding them.")
    serving = serving_version(path)
    if serving:
        return os.path.join(path, serving)
    found = versions(path)
    if not found:
        raise UserError(f"Model dir {path} holds no version folders (integer names) and no '{SERVING_POINTER}' pointer.")
    return os.path.join(path, found[-1])
