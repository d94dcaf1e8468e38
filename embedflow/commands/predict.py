"""`embedflow predict`: flags of the batch prediction job (beam_jobs/predict.py); the rest go to Beam."""

from __future__ import annotations

import argparse

from beam_jobs.config import PredictConfig
from stage_contracts.arguments import from_namespace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a model version folder, or a model dir (its serving pointer, else its latest version)")
    parser.add_argument("--input", required=True,
                        help="a CSV/Parquet table (a file, a glob or a folder) holding the columns a request carries "
                             "(`describe --model` lists them)")
    parser.add_argument("--output", required=True, help="output folder (local or gs://)")
    parser.add_argument("--keep", type=lambda text: tuple(c.strip() for c in text.split(",") if c.strip()),
                        default=(), help="comma-separated input columns to carry to the output besides the request's "
                                         "columns (e.g. a row id)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


def config_from_args(args: argparse.Namespace, beam_args: list[str]) -> PredictConfig:
    return from_namespace(PredictConfig, args, beam_args=tuple(beam_args))


def main_from_args(args: argparse.Namespace, beam_args: list[str]) -> dict:
    config = config_from_args(args, beam_args)  # checked before Beam loads
    from beam_jobs import predict
    from embedflow.commands.preprocess import print_dry_run

    result = predict.run(config.model, config.input, config.output, config.keep, list(config.beam_args),
                         config.overwrite)
    print_dry_run(result)
    return result
