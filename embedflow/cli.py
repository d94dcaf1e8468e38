"""The `embedflow` command: one entry point, a subcommand per job.

Only the chosen subcommand's module is imported, so `embedflow train`
never imports Beam, and that module is light (embedflow/commands/): it
imports TensorFlow or Beam only in its handler, so `embedflow COMMAND --help`
returns at once.  Each module offers `add_arguments(parser)` and
`main_from_args(args, extra_args)`; a module with several commands names
them `module:NAME`, offering `add_NAME_arguments` and `NAME_main`.  Errors
in the user's inputs are printed as one paragraph with exit code 2, never as
a traceback.  `-q` keeps warnings and errors only; `-v` adds the libraries'
own logs, TensorFlow's C++ start-up included (stage_contracts/quiet.py).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import textwrap
from typing import Callable

# subcommand -> (module, one-line help, whether unknown flags pass through to Beam)
SUBCOMMANDS = {
    "sample-data": ("embedflow.sample_tables", "write seeded sample data with planted structure", False),
    "preprocess": ("embedflow.commands.preprocess", "Beam + TFT job: raw tables -> TFRecords + transform graph "
                                           "(unknown flags go to Beam)", True),
    "train": ("embedflow.commands.train", "train the spec's model on a preprocess output and export a SavedModel",
              False),
    "init-spec": ("embedflow.init_spec", "draft a spec from a CSV/Parquet table, each choice commented", False),
    "describe": ("embedflow.describe_spec", "print a spec as resolved: features, transforms, embedding dimensions",
                 False),
    "similar": ("embedflow.commands.embeddings:similar", "nearest neighbours of an item, by id or title", False),
    "recommend": ("embedflow.commands.embeddings:recommend", "top-K unrated items for one user", False),
    "recommend-all": ("embedflow.commands.recommend_all", "Beam job: top-K for every user to Parquet (unknown flags "
                                                 "go to Beam)", True),
    "predict": ("embedflow.commands.predict", "Beam job: score every row of a CSV/Parquet table with a model version, "
                                              "to Parquet (unknown flags go to Beam)", True),
    "projector": ("embedflow.commands.embeddings:projector", "TensorBoard projector files for item and user embeddings", False),
    "map": ("embedflow.commands.embeddings:map", "a PNG map of the item embeddings, coloured by genre", False),
    "retrain": ("embedflow.commands.retrain:retrain", "scheduled retraining: new spans -> checks -> preprocess -> train -> "
                                             "promote only if not worse", False),
    "cut-spans": ("embedflow.commands.cut_spans", "cut one big ratings file into retrain's span folders, one per "
                                                  "UTC day of its timestamps", False),
    "rollback": ("embedflow.commands.retrain:rollback", "point serving back at the previous model version", False),
    "history": ("embedflow.commands.retrain:history", "print the record of retrain runs", False),
    "tune": ("embedflow.commands.tune", "search embedding dimensions around the fourth-root rule; report and best params",
             False),
    "demo": ("embedflow.demo", "sample data -> preprocess -> train -> export -> predictions "
                                "(unknown flags go to Beam)", True),
}


QUIET, NORMAL, VERBOSE = -1, 0, 1
LIBRARIES = ("apache_beam", "absl", "tensorflow_transform", "tfx_bsl", "h5py", "matplotlib", "google", "openTSNE")
# the packages whose lines are the product's own
PRODUCT = ("embedflow", "beam_jobs", "trainer", "features", "stage_contracts", "embedding_uses", "retraining")
LOG_FORMAT, LOG_DATE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"


def setup_logging(verbosity: int = NORMAL) -> None:
    """Our progress at INFO; libraries at WARNING (-v: INFO); -q: warnings and errors only."""
    logging.basicConfig(format=LOG_FORMAT, datefmt=LOG_DATE_FORMAT)
    logging.getLogger().setLevel(logging.WARNING if verbosity == QUIET else logging.INFO)
    if verbosity != VERBOSE:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_LIBRARY_LINES_ON_ROOT)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # it also prints its own copy of each warning
    for noisy in LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.INFO if verbosity == VERBOSE else logging.WARNING)
    if verbosity != VERBOSE:
        from stage_contracts.quiet import drop_unactionable_warnings

        drop_unactionable_warnings()


class LibraryLinesOnRoot(logging.Filter):
    """Drops a library's INFO lines logged on the root logger (Beam's "Runner defaulting to pickling library"),
    which the libraries' own logger levels cannot reach; their warnings still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root" or record.levelno >= logging.WARNING or "apache_beam" not in record.pathname


_LIBRARY_LINES_ON_ROOT = LibraryLinesOnRoot()


def api_logging() -> None:
    """The CLI's terminal for the Python API (a notebook, a script): the product's lines at INFO (progress, one line
    per epoch), TensorFlow's Python warnings (retracing, Keras serialization notes) at ERROR, the libraries at
    WARNING.  A logger the caller set a level or handler on is left alone, and so is everything when the caller
    configured the root logger (logging.basicConfig): their settings win."""
    if logging.getLogger().handlers:
        return
    from stage_contracts.quiet import drop_unactionable_warnings

    drop_unactionable_warnings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
    for name, level in ([(n, logging.INFO) for n in PRODUCT] + [("tensorflow", logging.ERROR)]
                        + [(n, logging.WARNING) for n in LIBRARIES]):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET and not logger.handlers:
            logger.setLevel(level)
            if name in PRODUCT:
                logger.addHandler(handler)
                logger.propagate = False  # printed once, here


def set_verbosity_environment(verbosity: int) -> None:
    """-v: TensorFlow's C++ log too, here and in child processes (Beam workers), which inherit the variable."""
    from stage_contracts.quiet import VERBOSE_ENV, configure_tensorflow

    if verbosity == VERBOSE:
        os.environ[VERBOSE_ENV] = "1"
        configure_tensorflow()


def run_command(action: Callable[[], object], verbosity: int = NORMAL, flags: dict[str, str] | None = None) -> int:
    """Run one command; a UserError becomes a readable message and its exit code.

    A bad config field (stage_contracts/arguments.py) is named by its flag in `flags` (field -> flag).
    """
    from stage_contracts.arguments import ArgumentError
    from stage_contracts.errors import UserError, disk_full_error, is_disk_full
    from stage_contracts.interrupt import interrupts_noticed

    setup_logging(verbosity)
    try:
        try:
            with interrupts_noticed():
                action()
        except Exception as e:  # disk full anywhere: one paragraph (exit 6), not a stack of tracebacks
            if isinstance(e, UserError) or not is_disk_full(e):
                raise
            raise disk_full_error(e, os.getcwd(), "running this command") from e
    except UserError as e:
        if isinstance(e, ArgumentError):
            e = e.for_flags(flags or {})
        print("error: " + textwrap.fill(str(e), width=100, subsequent_indent="  "), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        return 130  # the shell's code for a command stopped by SIGINT
    return 0


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    """The parser, with full arguments for the selected subcommand only."""
    parser = argparse.ArgumentParser(prog="embedflow", description="Beam/TFT feature engineering and "
                                     "embedding models for ratings and tabular data.")
    add_verbosity_arguments(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text, _) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module, _, prefix = module.partition(":")
            mod = importlib.import_module(module)
            getattr(mod, f"add_{prefix}_arguments" if prefix else "add_arguments")(p)
            from stage_contracts.arguments import flag_names

            p.set_defaults(handler=getattr(mod, f"{prefix}_main" if prefix else "main_from_args"),
                           flags_of_fields=flag_names(p))
    return parser


def add_verbosity_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET, default=NORMAL,
                       help="print warnings and errors only (no progress)")
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE,
                       help="also the libraries' logs (Beam, TFT, TensorFlow's C++ start-up)")


def verbosity_of(argv: list[str]) -> int:
    """-q/-v wherever they appear, read before any command module (and so TensorFlow's settings) loads."""
    pre = argparse.ArgumentParser(add_help=False)
    add_verbosity_arguments(pre)
    known, _ = pre.parse_known_args([a for a in argv if a in ("-q", "--quiet", "-v", "--verbose")])
    return known.verbosity


def negative_values_attached(argv: list[str]) -> list[str]:
    """`--history -3,-5` as `--history=-3,-5`: argparse takes a value that starts with '-' for a flag unless it is
    one plain negative number, so a list of negative ids would be refused as "expected one argument"."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and re.fullmatch(r"-\d[\d.,eE+-]*", arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbosity = verbosity_of(argv)
    set_verbosity_environment(verbosity)
    argv = negative_values_attached([a for a in argv if a not in ("-q", "--quiet", "-v", "--verbose")])
    selected = next((a for a in argv if a in SUBCOMMANDS), None)
    parser = build_parser(selected)
    args, rest = parser.parse_known_args(argv)
    if rest and not SUBCOMMANDS[args.command][2]:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return run_command(lambda: args.handler(args, rest), verbosity, args.flags_of_fields)


if __name__ == "__main__":
    sys.exit(main())
