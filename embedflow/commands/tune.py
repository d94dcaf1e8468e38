"""`embedflow tune`: flags of the embedding-dimension search."""

from __future__ import annotations

import argparse
import json
import os

from stage_contracts.arguments import from_namespace
from trainer.config import TuneConfig


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a preprocess output folder")
    parser.add_argument("--output", required=True, help="search folder: trials, report, best_params.yaml")
    parser.add_argument("--factors", type=lambda t: [float(x) for x in t.split(",")],
                        help="scales of the auto dimensions to try (default 0.6,0.8,1.0,1.2,1.4)")
    parser.add_argument("--dims", type=_ints, help="explicit dimensions of the primary feature instead of factors")
    parser.add_argument("--hidden-units", type=lambda t: [tuple(_ints(g)) for g in t.split(";")],
                        help="architectures to try, e.g. '64;128,64'")
    parser.add_argument("--learning-rates", type=lambda t: [float(x) for x in t.split(",")])
    parser.add_argument("--epochs", type=int, help="max epochs per trial (early stopping still applies)")
    parser.add_argument("--batch-size", type=int, help="override the spec's model.batch_size in every trial")
    parser.add_argument("--seed", type=int, default=42)


def config_from_args(args: argparse.Namespace, _extra: list[str]) -> TuneConfig:
    return from_namespace(TuneConfig, args)


def main_from_args(args: argparse.Namespace, _extra: list[str]) -> dict:
    config = config_from_args(args, _extra)  # checked before TensorFlow loads
    from trainer import tune

    best = tune.tune(config)
    print(f"Best: {json.dumps(best['params'])}")
    print(f"Report: {os.path.join(args.output, 'report.md')} and report.png; "
          f"train with: embedflow train --params {os.path.join(args.output, tune.BEST)} ...")
    return best
