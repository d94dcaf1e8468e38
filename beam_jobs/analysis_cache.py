"""TFT's analyzer cache, written so that a kill at any instant leaves the old complete cache or the new one.

TFT's `WriteAnalysisCacheToFS` writes a span's `MANIFEST` when the pipeline
is *built* and the entries it names only when the pipeline *runs*: a job
killed in between leaves `tft_cache/<span>/` holding only `MANIFEST`, and
every later job then fails reading `…/<span>/0-*-of-*`.  So the cache is
written aside and published after the job succeeds:

1. `begin`: entries whose `MANIFEST` names files that are missing or short
   of their shard count (`-of-N`) are discarded with a log line (their span
   is analysed again), and staging folders of killed jobs are removed;
2. the job writes its new entries under `<cache>/.tmp-<id>/` (`stage`);
3. `publish`: each staged entry is verified, its files are renamed into the
   span's folder under fresh indices, then the span's `MANIFEST` is replaced
   by rename: the manifest is the commit point, so files it does not name yet
   are invisible to readers.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import uuid

import tensorflow as tf

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST"  # TFT's name (analyzer_cache._ManifestFile)
STAGING_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
_SHARD = re.compile(r"^(?P<prefix>.+)-(?P<shard>\d+)-of-(?P<count>\d+)(?P<suffix>.*)$")


def read_manifest(folder: str) -> dict | None:
    """A span folder's manifest (entry key -> index); None when it is missing or unreadable."""
    path = os.path.join(folder, MANIFEST)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            manifest = pickle.loads(f.read())
    except Exception:  # noqa: BLE001 - any undecodable manifest means the entry cannot be trusted
        return None
    return manifest if isinstance(manifest, dict) else None


def _shards(folder: str, prefix: str) -> list[str]:
    return sorted(os.path.basename(p) for p in tf.io.gfile.glob(os.path.join(folder, f"{prefix}-*-of-*")))


def problem(folder: str) -> str | None:
    """Why a span's cache folder cannot be read back (None: complete)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return f"no readable {MANIFEST}"
    for index in sorted(set(manifest.values())):
        files = _shards(folder, str(index))
        counts = {int(_SHARD.match(f)["count"]) for f in files if _SHARD.match(f)}
        if not files or len(counts) != 1 or len(files) != counts.pop():
            return f"{MANIFEST} names entry {index} but its files {index}-*-of-* are missing or incomplete"
    return None


def _remove(path: str) -> None:
    """Delete aside: rename to a `.trash-` name first, so a kill never leaves a half-deleted folder in use."""
    trash = os.path.join(os.path.dirname(path), f"{TRASH_PREFIX}{os.path.basename(path)}-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.rename(path, trash)
    tf.io.gfile.rmtree(trash)


def begin(cache_dir: str) -> str:
    """Heal the cache (discard incomplete entries, leftovers of killed jobs); return a new staging folder."""
    tf.io.gfile.makedirs(cache_dir)
    for name in (n.rstrip("/") for n in tf.io.gfile.listdir(cache_dir)):
        path = os.path.join(cache_dir, name)
        if name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
            log.info("Removing %s, left by an interrupted preprocess job", path)
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.isdir(path) and (why := problem(path)):
            log.warning("TFT analyzer cache %s is incomplete (%s; a job was killed while writing it): discarding "
                        "it, so its span is analysed again", path, why)
            _remove(path)
    stage = os.path.join(cache_dir, f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}")
    tf.io.gfile.makedirs(stage)
    return stage


def publish(stage: str, cache_dir: str) -> list[str]:
    """Verify each staged span entry and merge it into the cache; returns the spans published."""
    published = []
    for name in sorted(n.rstrip("/") for n in tf.io.gfile.listdir(stage)):
        staged = os.path.join(stage, name)
        why = problem(staged)
        if why:
            raise OSError(f"The TFT analyzer cache just written for {name} in {staged} is incomplete ({why}).")
        target = os.path.join(cache_dir, name)
        tf.io.gfile.makedirs(target)
        current = read_manifest(target) or {}
        merged = dict(current)
        start = max(current.values()) + 1 if current else 0
        renumber = {old: start + i for i, old in enumerate(sorted(set(read_manifest(staged).values())))}
        for key, old in read_manifest(staged).items():
            merged[key] = renumber[old]
        for index in renumber.values():  # files of a never-committed write under an index about to be used
            for stale in _shards(target, str(index)):
                tf.io.gfile.remove(os.path.join(target, stale))
        for f in tf.io.gfile.listdir(staged):
            match = _SHARD.match(f)
            if f == MANIFEST or not match:
                continue
            prefix = match["prefix"]
            new = f"{renumber[int(prefix)]}{f[len(prefix):]}" if prefix.isdigit() else f  # METADATA keeps its name
            tf.io.gfile.rename(os.path.join(staged, f), os.path.join(target, new), overwrite=True)
        tmp = os.path.join(target, f".{MANIFEST}.tmp")
        with tf.io.gfile.GFile(tmp, "wb") as out:
            out.write(pickle.dumps(merged, protocol=0))  # TFT's own encoding of the manifest
        tf.io.gfile.rename(tmp, os.path.join(target, MANIFEST), overwrite=True)
        published.append(name)
    tf.io.gfile.rmtree(stage)
    return published


def abandon(stage: str) -> None:
    """A failed job's staging folder goes; the published cache is as it was."""
    if tf.io.gfile.exists(stage):
        tf.io.gfile.rmtree(stage)
