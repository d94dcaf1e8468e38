"""Training throughput (examples/s) on a preprocess output, at batch 1024 and 4096.

Uses the trainer's own input (in memory when the split fits, else streaming
gzip TFRecords through a shuffle buffer; `--streaming` forces streaming,
`--in-memory` the in-memory path) and model.  Each batch size trains one
warm-up epoch (tracing, shuffle buffer fill), then times the next epochs.
Prints the process's peak RSS (VmHWM) at the end: run each input path in
its own process to compare their memory.

    python bench/train.py --input runs/prep          # an existing preprocess output
    python bench/train.py                            # generates 1M sample ratings and preprocesses them first
    python bench/train.py --input big/prep --batch-sizes 4096 --steps 400   # time 400 steps, not whole epochs
    python bench/train.py --input big/prep --batch-sizes 4096 --steps 400 --streaming   # the same, streamed
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow_transform as tft  # noqa: E402

from bench.preprocess import peak_rss_mib  # noqa: E402
from bench.results import add_results_option, write_results  # noqa: E402
from stage_contracts import manifest as mf  # noqa: E402
from features.spec import spec_from_dict  # noqa: E402
from trainer.data import split_files, training_input  # noqa: E402
from trainer.model import TrainingData, build_model  # noqa: E402
from trainer.task import read_side_table  # noqa: E402


def prepare(ratings: int, users: int, movies: int) -> str:
    from beam_jobs import preprocess
    from beam_jobs.config import PreprocessConfig
    from embedflow.sample_tables import RatingsSample, write_ratings_sample
    from features.spec import load_spec

    root = tempfile.mkdtemp(prefix="bench_train_")
    write_ratings_sample(os.path.join(root, "data"), RatingsSample(users=users, movies=movies, ratings=ratings,
                                                                   groups=20))
    preprocess.run(PreprocessConfig(output=os.path.join(root, "prep"), input=os.path.join(root, "data"),
                                   spec=load_spec("movielens")))
    return os.path.join(root, "prep")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="a preprocess output (default: generate one)")
    parser.add_argument("--ratings", type=int, default=1_000_000, help="ratings to generate without --input")
    parser.add_argument("--users", type=int, default=50_000, help="users to generate without --input")
    parser.add_argument("--movies", type=int, default=20_000, help="movies to generate without --input")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per batch size")
    parser.add_argument("--steps", type=int, help="time this many steps (after a warm-up of 20) instead of epochs")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--in-memory", action=argparse.BooleanOptionalAction, default=None,
                        help="force the in-memory or the streaming input (default: the trainer's choice)")
    parser.add_argument("--streaming", dest="in_memory", action="store_false", help="the same as --no-in-memory")
    add_results_option(parser)
    args = parser.parse_args()
    prep = args.input or prepare(args.ratings, args.users, args.movies)
    manifest = mf.read_manifest(prep)
    spec = spec_from_dict(manifest["spec"])
    tft_output = tft.TFTransformOutput(prep)
    feature_spec = tft_output.transformed_feature_spec()
    files = split_files(prep, mf.TRAIN_DIR)
    examples = manifest["counts"]["kept"]["train"]
    results, rows = {}, []
    for batch in args.batch_sizes:
        started = time.time()
        train = training_input(files, feature_spec, spec.label.column, batch, seed=0, num_examples=examples,
                               in_memory=args.in_memory, validation=False)  # throughput over every example
        load_seconds = time.time() - started
        model = build_model(spec, manifest)
        model.prepare(TrainingData(spec, tft_output, read_side_table(prep, manifest), train.one_pass))
        steps, epochs = (args.steps, 1) if args.steps else (train.steps_per_epoch, args.epochs)
        model.fit(train.dataset, steps_per_epoch=20 if args.steps else train.steps_per_epoch, epochs=1, verbose=0)
        started = time.time()
        model.fit(train.dataset, steps_per_epoch=steps, epochs=epochs, verbose=0)
        timed = steps * batch * epochs if args.steps else examples * epochs
        results[batch] = timed / (time.time() - started)
        how = f"in memory, loaded in {load_seconds:.1f}s" if train.in_memory else "streaming"
        print(f"batch {batch:>5}: {results[batch]:>10,.0f} examples/s  ({spec.model.type} model, "
              f"{examples:,} train examples, {f'{steps} steps' if args.steps else f'{epochs} epochs'}, {how}; "
              f"{spec.model.describe()})")
        rows.append([batch, round(results[batch]), "in memory" if train.in_memory else "streaming",
                     f"{steps} steps" if args.steps else f"{epochs} epochs"])
    print(f"peak RSS {peak_rss_mib():,.0f} MiB")
    print(json.dumps({"examples_per_second": results, "peak_rss_mib": peak_rss_mib()}))
    write_results(args.results, ("batch", "examples/s", "input", "timed"), rows,
                  [f"{spec.model.type} model, {examples:,} train examples: {spec.model.describe()}",
                   f"peak RSS {peak_rss_mib() / 1024:.2f} GiB"])


if __name__ == "__main__":
    main()
