"""Errors a user can act on.

Every problem that comes from the user's inputs (a spec, a file, a flag)
is raised as a `UserError`.  The command line prints its message as one
paragraph and exits with `exit_code` instead of showing a traceback.
"""


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
