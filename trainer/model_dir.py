"""A model dir: version folders in TF Serving's layout, and the `serving` pointer that says which one serves.

    MODEL_DIR/<version>/      integer versions (seconds since the epoch), each appearing whole by rename
    MODEL_DIR/serving         the version that serves, replaced atomically (write a new file, rename over)

The trainer writes versions, retraining promotes and rolls back, and every
use of a model (similar, recommend, recommend-all, projector, map) resolves
a model dir to a version here.  All paths go through `tf.io.gfile`, so the
same code works on local disks and gs://.
"""

from __future__ import annotations

import os
import time

import tensorflow as tf

from features.errors import UserError

SERVING_POINTER = "serving"
SAVED_MODEL = "saved_model.pb"


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
    """Point serving at `version` atomically: write a new pointer, then rename it over the old one."""
    tmp = os.path.join(model_dir, f".{SERVING_POINTER}.tmp")
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(version + "\n")
    tf.io.gfile.rename(tmp, os.path.join(model_dir, SERVING_POINTER), overwrite=True)


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
