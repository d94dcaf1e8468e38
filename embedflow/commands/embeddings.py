"""`embedflow similar`, `recommend`, `projector` and `map`: the uses of a model version's embeddings."""

from __future__ import annotations

import argparse

from stage_contracts.arguments import check_argument, from_namespace
from embedding_uses.queries import RecommendQuery, SimilarQuery

MODEL_HELP = "a model version folder, or a model dir (its serving pointer, else its latest version)"


def _index(model: str):
    from stage_contracts.model_dir import resolve_version
    from embedding_uses.recommend import EmbeddingIndex

    return EmbeddingIndex(resolve_version(model))


def add_similar_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("item", metavar="query",
                        help="an item id; a query that is not a number may also be (part of) a title, case-insensitive")
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("-k", type=int, default=10, help="how many neighbours")
    parser.add_argument("--title", action="store_true",
                        help="read the query as (part of) a title, never as an id (e.g. the movie \"1941\")")


def similar_config(args: argparse.Namespace, _extra: list[str] | None = None) -> SimilarQuery:
    return from_namespace(SimilarQuery, args)


def similar_main(args: argparse.Namespace, _extra: list[str]) -> None:
    query = similar_config(args)  # checked before TensorFlow loads
    from embedding_uses.recommend import print_similar

    print_similar(_index(query.model), query.item, query.k, query.title)


def add_recommend_arguments(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="a user id the model knows")
    who.add_argument("--history", metavar="IDS_OR_FILE",
                     help="a user the model never saw, by the items they rated: comma-separated item ids, or a file "
                          "of them (one per line, or a CSV whose header names the item id column, e.g. movieId)")
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("-k", type=int, default=10, help="how many items")
    add_ranking_weight_arguments(parser)


def add_ranking_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """--rating-weight and --popularity-weight: the ranking score's weights (embedding_uses/ranking_score.py)."""
    chosen = "(default: the weight chosen by evaluation when the model was trained, in embeddings/scoring.json)"
    parser.add_argument("--rating-weight", type=float,
                        help=f"weight of the predicted rating added to the model's score {chosen}")
    parser.add_argument("--popularity-weight", type=float,
                        help=f"weight of log(1 + ratings of the item) added to the ranking score {chosen}")


def recommend_config(args: argparse.Namespace, _extra: list[str] | None = None) -> RecommendQuery:
    return from_namespace(RecommendQuery, args)


def recommend_main(args: argparse.Namespace, _extra: list[str]) -> None:
    query = recommend_config(args)  # checked before TensorFlow loads
    from embedding_uses.recommend import print_recommendations

    index = _index(query.model)
    history = None if query.history is None else query.history_ids(index.item_id_column)
    print_recommendations(index, query.user, query.k,
                          index.ranking_weights(query.popularity_weight, query.rating_weight), history)


def add_projector_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--output", required=True, help="folder to open with tensorboard --logdir")
    parser.add_argument("--max-points", type=int, default=20_000, help="most-rated items/users shown per table")


def projector_main(args: argparse.Namespace, _extra: list[str]) -> None:
    check_argument("projector", "model", args.model, "existing_path", folder=True)
    check_argument("projector", "output", args.output, "output_folder")
    check_argument("projector", "max_points", args.max_points, "integer", minimum=1)
    from embedding_uses.visualize import write_projector

    path = write_projector(_index(args.model), args.output, args.max_points)
    print(f"Wrote {path}\nOpen it with: tensorboard --logdir {args.output}   (then the Projector tab)")


MAP_METHODS = ("pca", "tsne")  # embedding_uses/visualize.py's MAP_METHODS, named here so --help and checks need no TensorFlow


def _map_methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip().lower() for m in text.split(",") if m.strip())
    unknown = [m for m in methods if m not in MAP_METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"{text!r}: one or more of {', '.join(MAP_METHODS)}, comma-separated")
    return methods


def add_map_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--output", required=True, help="PNG file to write")
    parser.add_argument("--labels", type=int, default=10, help="how many popular titles to label")
    parser.add_argument("--method", type=_map_methods, default=("pca",), metavar="pca|tsne[,...]",
                        help="how to bring the vectors down to 2-D: pca (default), tsne (t-SNE by cosine, which keeps "
                             "neighbours; needs pip install 'embedflow[maps]'); several, comma-separated, side by side")
    parser.add_argument("--seed", type=int, default=0, help="t-SNE's seed: the same seed draws the same map")
    parser.add_argument("--max-points", type=int, default=20_000, help="most-rated items shown")


def map_main(args: argparse.Namespace, _extra: list[str]) -> None:
    check_argument("map", "model", args.model, "existing_path", folder=True)
    check_argument("map", "output", args.output, "output_file")
    check_argument("map", "labels", args.labels, "integer", minimum=0)
    check_argument("map", "max_points", args.max_points, "integer", minimum=1)
    from embedding_uses.visualize import draw_map

    print(f"Wrote {draw_map(_index(args.model), args.output, args.labels, args.max_points, args.method, args.seed)}")
