"""`embedflow retrain`, `rollback` and `history`: scheduled retraining, driven by one YAML config."""

from __future__ import annotations

import argparse
import os


def add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="retrain YAML (see docs/retraining.md)")


add_rollback_arguments = add_retrain_arguments
add_history_arguments = add_retrain_arguments


def retrain_main(args: argparse.Namespace, _extra: list[str]) -> None:
    from retraining.retrain import Retrainer, RetrainConfig
    from retraining.retrain_state import RunLock

    config = RetrainConfig.load(args.config)
    retrainer = Retrainer(config)
    with RunLock(os.path.join(config.work_dir, "retrain.lock")):
        retrainer.run()


def rollback_main(args: argparse.Namespace, _extra: list[str]) -> None:
    from retraining.retrain import RetrainConfig, rollback
    from retraining.retrain_state import RunLock

    config = RetrainConfig.load(args.config)
    with RunLock(os.path.join(config.work_dir, "retrain.lock")):
        print(f"Serving now points at version {rollback(config)} in {config.model_dir}.")


def history_main(args: argparse.Namespace, _extra: list[str]) -> None:
    from retraining.retrain import RetrainConfig, format_history

    print(format_history(RetrainConfig.load(args.config)))
