"""TensorFlow's environment, set before TensorFlow loads: Keras 2, and a quiet start-up unless asked for detail.

TensorFlow reads its settings when it is first imported, and on a machine
without a GPU its C++ start-up prints lines nobody can act on (oneDNN is on,
no CUDA drivers, a failed `cuInit`), some of them before any setting is
read.  So the first `import tensorflow` of a process runs with the C++
stderr (file descriptor 2) pointed at /dev/null, and TensorFlow's C++ log
keeps only fatal messages (`TF_CPP_MIN_LOG_LEVEL=3`).  Python errors still
raise as usual.  `EMBEDFLOW_VERBOSE=1` (what `embedflow -v` sets; child
processes such as Beam workers inherit it) keeps all of it; a user's own
`TF_CPP_MIN_LOG_LEVEL` always wins.  Library warnings about the libraries'
own internals, which no input or setting of a user's can change, are
dropped by a logging filter (UNACTIONABLE_WARNINGS) unless `-v`.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import threading
from typing import Callable, Iterator

VERBOSE_ENV = "EMBEDFLOW_VERBOSE"


_level_is_ours = False  # whether TF_CPP_MIN_LOG_LEVEL was set here (a user's own setting is never touched)


def configure_tensorflow() -> None:
    """Set TensorFlow's environment from `EMBEDFLOW_VERBOSE`: when `features` is imported, and again when the
    command line has read -v (it changes nothing once TensorFlow is loaded)."""
    global _level_is_ours
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFT's Keras layer needs Keras 2 (tf_keras)
    verbose = os.environ.get(VERBOSE_ENV) == "1"
    if _level_is_ours or "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "3"
        _level_is_ours = True
    hooks = [f for f in sys.meta_path if isinstance(f, _QuietTensorFlowImport)]
    if verbose:
        for hook in hooks:
            sys.meta_path.remove(hook)
    elif not hooks and "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _QuietTensorFlowImport())


@contextlib.contextmanager
def stderr_silenced():
    """Point file descriptor 2 (what C++ libraries write to) at /dev/null for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with a loader that runs its import with stderr silenced; then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _SilentLoader(spec.loader)
        return spec


class _SilentLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self._loader  # the module keeps its own loader
        with stderr_silenced():
            self._loader.exec_module(module)


# Library warnings about the libraries' own internals, which no setting or input of a user's can change, by logger.
# TFT analysing its own traced graph for the analyzer cache (retrain's preprocess) warns that the vocabulary tables
# TFT itself creates inside that tf.function are initialised on every call: TFT's code, not ours, and harmless here.
UNACTIONABLE_WARNINGS = {
    "absl": (re.compile(r"Tables initialized inside a tf\.function"),),
}


class UnactionableWarnings(logging.Filter):
    """Drops the records of one logger whose message starts like one of UNACTIONABLE_WARNINGS' patterns."""

    def __init__(self, patterns: tuple[re.Pattern, ...]):
        super().__init__()
        self.patterns = patterns

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(p.match(message) for p in self.patterns)


def drop_unactionable_warnings() -> None:
    """Put an UnactionableWarnings filter on each logger of UNACTIONABLE_WARNINGS (once); `-v` leaves them off."""
    for name, patterns in UNACTIONABLE_WARNINGS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, UnactionableWarnings) for f in logger.filters):
            logger.addFilter(UnactionableWarnings(patterns))


# The C++ start-up lines of a TensorFlow loaded in a child process (Beam's multi-processing workers import it
# before any of our code runs there), recognised by their source files.
TF_START_UP_LINE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
                              rb"STDERR|[IW]\d{4} [\d:. ]+ \d+ (port|cudart_stub|cpu_feature_guard|cuda_\w+)\.cc:\d+\] )")


def child_start_up_lines_filtered():
    """While it lasts, child processes inherit a stderr that drops TensorFlow's C++ start-up lines.  No-op when
    verbose."""
    return stderr_lines_filtered(lambda line: not TF_START_UP_LINE.match(line))


@contextlib.contextmanager
def stderr_lines_filtered(keep: Callable[[bytes], bool], show_held_on_error: bool = False) -> Iterator[None]:
    """While it lasts, stderr (file descriptor 2: this process's and the children it starts) passes only lines
    that `keep`; with `show_held_on_error`, the others are printed after all if the block raises (the output of
    a build that failed).  File descriptor 2 becomes a pipe; a thread copies the kept lines to the real stderr.
    No-op when verbose."""
    if os.environ.get(VERBOSE_ENV) == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    held: list[bytes] = []
    copier = threading.Thread(target=_copy_lines, args=(read_end, saved, keep, held), daemon=True)
    copier.start()
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # our write end closes here; children that still run keep theirs until they exit
        copier.join(timeout=5)
        if failed and show_held_on_error:
            os.write(2, b"".join(held))
        if not copier.is_alive():
            os.close(saved)


def _copy_lines(read_end: int, target: int, keep: Callable[[bytes], bool], held: list[bytes]) -> None:
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            if keep(line):
                os.write(target, line)
            else:
                held.append(line)
