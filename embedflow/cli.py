"""The `embedflow` command: one entry point, a subcommand per job.

Only the chosen subcommand's module is imported, so `embedflow train`
never imports Beam and `embedflow --help` stays fast.  Each module offers
`add_arguments(parser)` and `main_from_args(args, extra_args)`; a module
with several commands names them `module:NAME`, offering
`add_NAME_arguments` and `NAME_main`.  Errors in
the user's inputs are printed as one paragraph with exit code 2, never as a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import textwrap
from typing import Callable

# subcommand -> (module, one-line help, whether unknown flags pass through to Beam)
SUBCOMMANDS = {
    "sample-data": ("beam_jobs.sample_data", "write seeded sample data with planted structure", False),
    "preprocess": ("beam_jobs.preprocess", "Beam + TFT job: raw tables -> TFRecords + transform graph "
                                           "(unknown flags go to Beam)", True),
    "train": ("trainer.task", "train the spec's model on a preprocess output and export a SavedModel", False),
    "init-spec": ("embedflow.init_spec", "draft a spec from a CSV/Parquet table, each choice commented", False),
    "describe": ("embedflow.describe_spec", "print a spec as resolved: features, transforms, embedding dimensions",
                 False),
    "similar": ("trainer.recommend:similar", "nearest neighbours of an item, by id or title", False),
    "recommend": ("trainer.recommend:recommend", "top-K unrated items for one user", False),
    "recommend-all": ("beam_jobs.recommend_all", "Beam job: top-K for every user to Parquet (unknown flags "
                                                 "go to Beam)", True),
    "projector": ("trainer.visualize:projector", "TensorBoard projector files for item and user embeddings", False),
    "map": ("trainer.visualize:map", "a PNG map of the item embeddings, coloured by genre", False),
    "retrain": ("embedflow.retrain:retrain", "scheduled retraining: new spans -> checks -> preprocess -> train -> "
                                             "promote only if not worse", False),
    "rollback": ("embedflow.retrain:rollback", "point serving back at the previous model version", False),
    "history": ("embedflow.retrain:history", "print the record of retrain runs", False),
    "tune": ("trainer.tune", "search embedding dimensions around the fourth-root rule; report and best params",
             False),
    "demo": ("embedflow.demo", "sample data -> preprocess -> train -> export -> predictions "
                                "(unknown flags go to Beam)", True),
}


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # it also prints its own copy of each warning
    for noisy in ("apache_beam", "absl", "tensorflow_transform", "tfx_bsl", "h5py", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_command(action: Callable[[], object]) -> int:
    """Run one command; a UserError becomes a readable message and its exit code."""
    from features.errors import UserError

    setup_logging()
    try:
        action()
    except UserError as e:
        print("error: " + textwrap.fill(str(e), width=100, subsequent_indent="  "), file=sys.stderr)
        return e.exit_code
    return 0


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    """The parser, with full arguments for the selected subcommand only."""
    parser = argparse.ArgumentParser(prog="embedflow", description="Beam/TFT feature engineering and "
                                     "embedding models for ratings and tabular data.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text, _) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module, _, prefix = module.partition(":")
            mod = importlib.import_module(module)
            getattr(mod, f"add_{prefix}_arguments" if prefix else "add_arguments")(p)
            p.set_defaults(handler=getattr(mod, f"{prefix}_main" if prefix else "main_from_args"))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = next((a for a in argv if a in SUBCOMMANDS), None)
    parser = build_parser(selected)
    args, rest = parser.parse_known_args(argv)
    if rest and not SUBCOMMANDS[args.command][2]:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return run_command(lambda: args.handler(args, rest))


if __name__ == "__main__":
    sys.exit(main())
