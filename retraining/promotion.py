"""How a retrained candidate becomes a version of the model dir, and how old versions go.

Each function is one step of the commit protocol (retraining/retrain.py):
every step leaves the model dir in a state the next run can reconcile, so a
scheduled run killed between two of them never serves a half-written or
half-deleted version.  Whether a candidate may be promoted is the gate's
decision (retraining/gate.py), not this module's.
"""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from retraining.retrain_state import TRASH_PREFIX
from stage_contracts.model_dir import SAVED_MODEL, serving_version, versions

log = logging.getLogger(__name__)


def loads(version_dir: str) -> str | None:
    """None if the SavedModel in `version_dir` loads, else why not (one line)."""
    if not tf.io.gfile.exists(os.path.join(version_dir, SAVED_MODEL)):
        return f"no {SAVED_MODEL}"
    try:
        tf.saved_model.load(version_dir)
    except Exception as e:  # noqa: BLE001 - any failure to load is the answer
        return " ".join(str(e).split())[:200]
    return None


def publish(version_dir: str, staging: str, model_dir: str) -> str:
    """The candidate's version folder into the model dir by rename (same filesystem), its staging folder removed;
    returns the version.  Serving does not change until the pointer is switched."""
    version = os.path.basename(version_dir)
    tf.io.gfile.rename(version_dir, os.path.join(model_dir, version))
    tf.io.gfile.rmtree(staging)
    return version


def removable_versions(model_dir: str, keep_versions: int) -> list[str]:
    """Versions beyond the newest `keep_versions`, never the serving one."""
    found = versions(model_dir)
    keep = set(found[-keep_versions:]) | {serving_version(model_dir)}
    return [v for v in found if v not in keep]


def move_to_trash(model_dir: str, removed: list[str]) -> None:
    """Each version renamed to `.trash-<version>`: no longer a version (`versions`, `rollback`) the instant it
    starts going; `empty_trash` deletes it later."""
    for v in removed:
        path = os.path.join(model_dir, v)
        tf.io.gfile.rename(path, os.path.join(model_dir, f"{TRASH_PREFIX}{v}"), overwrite=True)


def empty_trash(model_dir: str) -> None:
    for name in (n.rstrip("/") for n in tf.io.gfile.listdir(model_dir)):
        if name.startswith(TRASH_PREFIX):
            tf.io.gfile.rmtree(os.path.join(model_dir, name))


def remove_leftovers(model_dir: str, promoted_versions: list[str], serving: str | None) -> None:
    """What killed runs left in the model dir: staging folders, versions never promoted, `.trash-` folders and
    version folders without their SavedModel."""
    for name in (n.rstrip("/") for n in tf.io.gfile.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        orphan = name.isdigit() and name not in promoted_versions
        # A version folder without its SavedModel was being deleted when a run was killed (before deletes went
        # aside): out of sight, so `rollback` cannot point serving at it.
        broken = name.isdigit() and name != serving and not tf.io.gfile.exists(os.path.join(path, SAVED_MODEL))
        if name.startswith((".staging-", TRASH_PREFIX)) or orphan or broken:
            log.info("Removing %s left by an interrupted run", path)
            tf.io.gfile.rmtree(path)
