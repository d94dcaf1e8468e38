"""Errors a user can act on.

Every problem that comes from the user's inputs (a spec, a file, a flag)
is raised as a `UserError`.  The command line prints its message as one
paragraph and exits with `exit_code` instead of showing a traceback.
"""

import os


class UserError(Exception):
    """A problem with the user's input, reported without a traceback."""

    exit_code = 2


class SpecError(UserError):
    """The feature spec is invalid; the message names the file and the feature."""

    def __init__(self, spec_path: str, where: str, problem: str):
        self.spec_path = spec_path
        self.where = where
        self.problem = problem
        super().__init__(f"Spec {spec_path}: {where}: {problem}")


class InputError(UserError):
    """An input table is missing, empty or has the wrong columns."""


class OutputError(UserError):
    """An output folder cannot be written, or an input folder is incomplete."""


class DiskFullError(UserError):
    """No space left on a device: one paragraph naming the folder, the space free and, when known, needed."""

    exit_code = 6


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, is "no space left on device" (errno 28).

    TensorFlow's file errors and Beam's wrapped worker errors keep only the message, so it is matched too.
    """
    import errno

    return any((isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e)
               for e in _chain(exc))


def disk_full_error(exc: BaseException, folder: str, doing: str, needed_bytes: int | None = None,
                    cleaned: bool = False) -> DiskFullError:
    """The paragraph for a disk-full `exc` met while `doing` something in `folder` (`cleaned`: temporaries gone)."""
    import shutil

    filename = next((e.filename for e in _chain(exc) if isinstance(e, OSError) and e.filename), None)
    if filename and "://" not in folder:
        folder = os.path.dirname(os.path.abspath(os.fspath(filename)))
    while "://" not in folder and not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # the temporary folder being written is gone: name where it was
    free = "free space unknown" if "://" in folder else f"{human_bytes(shutil.disk_usage(folder).free)} free there"
    needed = f"; about {human_bytes(needed_bytes)} is needed" if needed_bytes else ""
    writing = f", writing {filename}" if filename else ""
    return DiskFullError(f"Disk full while {doing}: no space left on the device of {folder} ({free}{needed}"
                         f"{writing}). {'Nothing half-written was kept; f' if cleaned else 'F'}ree some space (or point the "
                         f"folder at a larger disk) and run the command again.")


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
