"""`embedflow cut-spans`: flags of cutting one big ratings file into retrain's daily span folders."""

from __future__ import annotations

import argparse

from retraining.cut_spans import CutSpansConfig, cut_spans
from stage_contracts.arguments import from_namespace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="one CSV file with a header and a unix-seconds timestamp column")
    parser.add_argument("--output", required=True,
                        help="retrain's input_root: a folder per UTC day (YYYY-MM-DD) is made under it; days whose "
                             "folder exists are left as they are")
    parser.add_argument("--timestamp-column", default="timestamp", help="the column of unix seconds (default timestamp)")
    parser.add_argument("--copy", action="append", default=[], metavar="FILE",
                        help="a side file copied into every new span, e.g. movies.csv (repeat for several)")
    parser.add_argument("--through", metavar="YYYY-MM-DD",
                        help="the last day to cut (e.g. yesterday: today's rows are still arriving)")


def config_from_args(args: argparse.Namespace, _extra: list[str] | None = None) -> CutSpansConfig:
    return from_namespace(CutSpansConfig, args)


def main_from_args(args: argparse.Namespace, _extra: list[str]) -> None:
    config = config_from_args(args)  # numpy and pyarrow load only in cut_spans
    print(cut_spans(config).summary(config.output))
