"""`embedflow recommend-all`: flags of the batch recommendation job; the rest go to Beam."""

from __future__ import annotations

import argparse

from beam_jobs.config import RecommendAllConfig
from embedflow.commands.embeddings import add_ranking_weight_arguments
from stage_contracts.arguments import from_namespace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a model version folder, or a model dir (its serving pointer, else its latest version)")
    parser.add_argument("--output", required=True, help="output folder (local or gs://)")
    parser.add_argument("-k", type=int, default=10, help="items per user (default 10)")
    add_ranking_weight_arguments(parser)
    parser.add_argument("--block-size", type=int, help="users scored per work item (default 1024)")
    parser.add_argument("--csv", action="store_true", help="also write CSV")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


def config_from_args(args: argparse.Namespace, beam_args: list[str]) -> RecommendAllConfig:
    return from_namespace(RecommendAllConfig, args, beam_args=tuple(beam_args))


def main_from_args(args: argparse.Namespace, beam_args: list[str]) -> dict:
    config = config_from_args(args, beam_args)  # checked before Beam loads
    from beam_jobs import recommend_all
    from embedflow.commands.preprocess import print_dry_run

    result = recommend_all.run(config)
    print_dry_run(result)
    return result
