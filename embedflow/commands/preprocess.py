"""`embedflow preprocess` (and `python -m beam_jobs.preprocess`): the job's own flags; the rest go to Beam."""

from __future__ import annotations

import argparse

from beam_jobs.config import DEFAULT_MAX_REJECTED_FRACTION, PreprocessConfig
from stage_contracts.arguments import from_namespace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", help="MovieLens folder, or CSV/Parquet file, glob or folder "
                                        "(default: the spec's source.path)")
    parser.add_argument("--output", required=True, help="output folder (local or gs://)")
    parser.add_argument("--spec", default="movielens", help="built-in spec name or path to a spec YAML")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.add_argument("--seed", type=int, help="split seed (overrides the spec's split.seed)")
    parser.add_argument("--chunk-bytes", type=int, help="bytes of input per parsing work item (default 16 MiB)")
    parser.add_argument("--max-rejected-fraction", type=float, default=DEFAULT_MAX_REJECTED_FRACTION,
                        help=f"fail when more than this share of rows is rejected (default "
                             f"{DEFAULT_MAX_REJECTED_FRACTION})")
    parser.add_argument("--statistics", action=argparse.BooleanOptionalAction, default=True,
                        help="write the splits' statistics in TFDV's format to <output>/statistics (default: on)")


def config_from_args(args: argparse.Namespace, beam_args: list[str]) -> PreprocessConfig:
    """The command line's PreprocessConfig: each flag's dest is its field; the rest go to Beam."""
    return from_namespace(PreprocessConfig, args, beam_args=tuple(beam_args))


def main_from_args(args: argparse.Namespace, beam_args: list[str]) -> dict:
    config = config_from_args(args, beam_args)  # checked before Beam loads
    from beam_jobs import preprocess

    result = preprocess.run(config)
    print_dry_run(result)
    return result


def print_dry_run(result: dict) -> None:
    """A dry run's job, as it would be submitted (DataflowRunner builds one; other runners build none)."""
    if result.get("dry_run") and result.get("job") is not None:
        from beam_jobs.options import dry_run_summary

        print(dry_run_summary(result["job"]))
