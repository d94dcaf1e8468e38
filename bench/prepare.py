"""The model's preparation (user histories, per-id counts, bias baseline, retrieval's shares) from preprocess's id
table or by parsing the train records: its seconds and the process's peak RSS.

Run each source in its own process, so their peak memory compares:

    python bench/prepare.py --input runs/prep --source table
    python bench/prepare.py --input runs/prep --source records               # streaming input: parses every record
    python bench/prepare.py --input runs/prep --source records --in-memory   # the records' columns held in memory

Without --input, 1M sample ratings are generated and preprocessed first (bench/train.py's sample).  The train
split is cut into its fit part and validation slice (seed 0), as `embedflow train` does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow_transform as tft  # noqa: E402

from bench.preprocess import peak_rss_mib  # noqa: E402
from bench.train import prepare as generate  # noqa: E402
from stage_contracts import manifest as mf  # noqa: E402
from features.spec import spec_from_dict  # noqa: E402
from trainer.data import split_files, training_input  # noqa: E402
from trainer.id_table import IdTable  # noqa: E402
from trainer.model import TrainingData, build_model  # noqa: E402
from trainer.task import read_side_table  # noqa: E402

SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="a preprocess output of a ratings spec (default: generate one)")
    parser.add_argument("--source", choices=("table", "records"), default="table",
                        help="read the train ids from the id table or by parsing the records")
    parser.add_argument("--in-memory", action="store_true",
                        help="load the train split into memory first, as a small run trains (default: streaming)")
    args = parser.parse_args()
    prep = args.input or generate(1_000_000, 50_000, 20_000)
    manifest = mf.read_manifest(prep)
    spec = spec_from_dict(manifest["spec"])
    tft_output = tft.TFTransformOutput(prep)
    examples = manifest["counts"]["kept"]["train"]
    started = time.perf_counter()
    train = training_input(split_files(prep, mf.TRAIN_DIR), tft_output.transformed_feature_spec(), spec.label.column,
                           spec.model.batch_size, SEED, examples, in_memory=args.in_memory)
    load_seconds = time.perf_counter() - started
    table = IdTable.of(prep, manifest, SEED) if args.source == "table" else None
    if args.source == "table" and table is None:
        parser.error(f"{prep} has no id table (a spec without ids, or an older preprocess)")
    data = TrainingData(spec, tft_output, read_side_table(prep, manifest), train.one_pass, None, train.validation,
                        table)
    model = build_model(spec, manifest)
    started = time.perf_counter()
    model.prepare(data)
    seconds = time.perf_counter() - started
    how = "in memory" if train.in_memory else "streaming"
    print(f"prepare from the {args.source} ({how} input{f', loaded in {load_seconds:.1f}s' if train.in_memory else ''}"
          f"): {seconds:.1f}s for {examples:,} train examples; peak RSS {peak_rss_mib():,.0f} MiB")
    print(json.dumps({"source": args.source, "input": how, "prepare_seconds": round(seconds, 2),
                      "train_examples": examples, "peak_rss_mib": round(peak_rss_mib())}))


if __name__ == "__main__":
    main()
