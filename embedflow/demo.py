"""The demo: sample data -> preprocess -> train -> export -> predictions, in one command.

Everything goes under one folder (default `demo_output/`; a folder that holds files is replaced only with
`--overwrite`, as every command's output):
`data/` (sample MovieLens files), `preprocessed/`, `job/` (logs, checkpoints)
and `model/<version>/` (the SavedModel).
"""

from __future__ import annotations

import argparse
import csv
import os

import numpy as np

from embedflow.sample_tables import RatingsSample


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="demo_output", help="folder for everything the demo writes")
    parser.add_argument("--overwrite", action="store_true", help="replace what an earlier demo left in --output")
    parser.add_argument("--users", type=int, default=RatingsSample.users)
    parser.add_argument("--movies", type=int, default=RatingsSample.movies)
    parser.add_argument("--ratings", type=int, default=RatingsSample.ratings)
    parser.add_argument("--epochs", type=int, help="override the spec's model.epochs")
    parser.add_argument("--seed", type=int, default=7)


def main_from_args(args: argparse.Namespace, beam_args: list[str]) -> None:
    from beam_jobs import preprocess
    from embedflow import sample_tables
    from beam_jobs.config import PreprocessConfig
    from stage_contracts.manifest import prepare_output
    from trainer import task
    from trainer.config import TrainConfig

    root = os.path.abspath(args.output)
    prepare_output(root, args.overwrite)
    data, prep, job = (os.path.join(root, name) for name in ("data", "preprocessed", "job"))
    print(f"[1/3] Writing sample MovieLens data ({args.ratings} ratings, {args.users} users, "
          f"{args.movies} movies) to {data}")
    sample_tables.write_ratings_sample(data, RatingsSample(users=args.users, movies=args.movies,
                                                           ratings=args.ratings, seed=args.seed))
    print(f"[2/3] Preprocessing with Beam + TFT into {prep}")
    manifest = preprocess.run(PreprocessConfig(output=prep, input=data, beam_args=tuple(beam_args)))
    print(f"[3/3] Training the two-tower model; exporting under {os.path.join(root, 'model')}")
    result = task.train(TrainConfig(input=prep, job_dir=job, model_dir=os.path.join(root, "model"), seed=args.seed,
                                    epochs=args.epochs))
    counts = manifest["counts"]
    print(f"\nRows: read {counts['read']}, train {counts['kept']['train']}, eval {counts['kept']['eval']}, "
          f"rejected {counts['rejected']['total']}")
    m = result.metrics
    rmse = m["model"]["rmse"]
    print(f"Eval RMSE: model {rmse:.4f}, bias-only baseline {m['baseline_bias']['rmse']:.4f}, global mean "
          f"{m['baseline_mean']['rmse']:.4f}: the model "
          + " and ".join(verdict(rmse, m[key]["rmse"], name, lower_is_better=True)
                         for key, name in (("baseline_bias", "the bias-only baseline"),
                                           ("baseline_mean", "the global mean"))))
    if "ranking" in m:
        ranking, key = m["ranking"], f"recall@{m['ranking']['k']}"
        references = [(ref, name) for ref, name in (("popularity", "most popular"), ("ease", "EASE")) if ref in ranking]
        print(f"Top-{ranking['k']} lists on eval: {key} {ranking['model'][key]:.3f}, "
              + ", ".join(f"{name} {ranking[ref][key]:.3f}" for ref, name in references) + ": the model "
              + " and ".join(verdict(ranking["model"][key], ranking[ref][key], name) for ref, name in references))
    print("(Everything above is on the eval split; epochs and ranking weights were chosen on a validation slice of "
          "the train split.)")
    _show_neighbour_quality(result.version_dir, data)
    _show_predictions(result.version_dir, data, args.seed)
    print(f"\nSavedModel: {result.version_dir}\nTensorBoard: tensorboard --logdir {os.path.join(job, 'logs')}")


def verdict(model: float, reference: float, name: str, lower_is_better: bool = False, level: float = 0.005) -> str:
    """"beats NAME (0.97x)", "is level with NAME (1.00x)" or "is behind NAME (1.04x)": within `level` is level."""
    ratio = model / reference
    gain = (1 - ratio) if lower_is_better else (ratio - 1)
    word = "beats" if gain > level else ("is behind" if gain < -level else "is level with")
    return f"{word} {name} ({ratio:.2f}x)"


def _show_neighbour_quality(version_dir: str, data_dir: str) -> None:
    from embedding_uses.neighbours import neighbour_label_share
    from embedding_uses.recommend import EmbeddingIndex

    with open(os.path.join(data_dir, "planted_movie_groups.csv"), encoding="utf-8") as f:
        planted = {r["movieId"]: int(r["group"]) for r in csv.DictReader(f)}
    index = EmbeddingIndex(version_dir)
    top, _ = index.neighbours(10)
    share, chance = neighbour_label_share(top, np.array([planted[i] for i in index.item_ids]))
    print(f"Similar movies: {100 * share:.1f}% of each movie's 10 neighbours by `similar` share its planted "
          f"taste group (chance: {100 * chance:.1f}%)")


def _show_predictions(version_dir: str, data_dir: str, seed: int) -> None:
    """Predict a few real ratings through the exported SavedModel, from raw ids only."""
    import tensorflow as tf

    with open(os.path.join(data_dir, "movies.csv"), encoding="utf-8") as f:
        titles = {int(r["movieId"]): r["title"] for r in csv.DictReader(f)}
    with open(os.path.join(data_dir, "ratings.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    picks = [rows[i] for i in np.random.default_rng(seed).choice(len(rows), 8, replace=False)]
    users = [int(r["userId"]) for r in picks] + [10**9]
    movies = [int(r["movieId"]) for r in picks] + [int(picks[0]["movieId"])]
    predict = tf.saved_model.load(version_dir).signatures["predict"]
    predicted = predict(userId=tf.constant(users, tf.int64), movieId=tf.constant(movies, tf.int64))["prediction"]
    print("\nPredictions from the exported SavedModel (raw userId, movieId in; rating out):")
    print(f"  {'user':>10}  {'actual':>6}  {'predicted':>9}  title")
    for i, (user, movie) in enumerate(zip(users, movies)):
        actual = picks[i]["rating"] if i < len(picks) else "new user"
        print(f"  {user:>10}  {actual:>6}  {float(predicted[i]):>9.2f}  {titles.get(movie, '?')}")
