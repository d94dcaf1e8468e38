"""The product's `similar` against item-item co-occurrence, EASE and random picks, on a held-out 20%.

The split and the product run are bench/ranking.py's (a seeded random 80/20
split of the ratings of the calibrated sample or of `--input`; the README's
`embedflow preprocess` and `embedflow train` on the 80%).  Queries are the
movies with at least 20 ratings in the 80%; each method names each query's 10
neighbours among the movies of the 80%:

- the product: `embedflow similar` (EmbeddingIndex.neighbours: cosine of the
  centred retrieval vectors plus a small popularity term, embedding_uses/neighbours.py),
  and, next to it, other readings of the same vectors (the raw cosine `similar`
  used before, and the transforms and weights tried), which is how `similar`
  was chosen, on `--seeds 10` (a sample and split of its own; 0, 1, 2 report);
- item-item co-occurrence cosine: co-raters(i, j) / sqrt(raters(i) raters(j)) in the 80%;
- EASE's item-item weights (row i of B; lambda chosen on a validation slice of the 80%);
- random picks: 10 movies of the 80% drawn uniformly.

Measures, over the queries:

- genre share@10: the share of neighbours sharing at least one genre with
  the query (on the sample also the share in the query's planted taste group);
- co-rating lift@10: of the held-out users who rated the query (in the 20%),
  the share who also rated a neighbour (in the 20%), averaged over
  neighbours and queries, divided by the same share for a movie of the 80%
  drawn at random (computed exactly; trainer/references.py's CoRating);
  random picks sit near 1 by construction.

    python bench/similar.py [--input FOLDER] [--work DIR] [--seeds 0] [--epochs N] [--spec SPEC] [--reuse]

`--reuse` keeps a model already trained under `--work` for the same seed.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import shutil
import sys
import tempfile
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.ranking import Split, run_product, split_arguments, split_ratings  # noqa: E402
from trainer import references as ref  # noqa: E402
from embedding_uses.neighbours import cosine_top_k, normalize  # noqa: E402

K = 10
MIN_QUERY_RATINGS = 20


def main() -> None:
    parser = split_arguments(__doc__, "preprocess output and model")
    parser.add_argument("--reuse", action="store_true", help="keep a model already trained under --work for a seed")
    args = parser.parse_args()

    root = args.work or tempfile.mkdtemp(prefix="bench_similar_")
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        work = os.path.join(root, f"seed{seed}")
        if os.path.exists(work) and not args.reuse:
            shutil.rmtree(work)
        os.makedirs(work, exist_ok=True)
        print(f"\n=== seed {seed} ===")
        runs.append(run_split(args, work, seed))
    if len(runs) > 1:
        print(f"\n=== mean over {len(runs)} seeds (min - max) ===")
        for name in runs[0]:
            values = np.array([r[name] for r in runs])
            print(f"{name:<44} {values.mean():7.3f}  ({values.min():.3f} - {values.max():.3f})")


def run_split(args: argparse.Namespace, work: str, seed: int) -> dict[str, float]:
    """One seeded split: every method's neighbours and both measures; returns the figures the summary averages."""
    split = split_ratings(args.input, work, seed)
    model_dir = os.path.join(work, "job", "model")
    if not (args.reuse and glob.glob(os.path.join(model_dir, "*", "saved_model.pb"))):
        run_product(split.train_dir, work, args.epochs, args.spec, recommend_all=False)
    from stage_contracts.model_dir import resolve_version
    from embedding_uses.recommend import EmbeddingIndex

    index = EmbeddingIndex(resolve_version(model_dir))
    n_items = split.train.n_items - 1  # the last index holds held-out movies the 80% never saw
    counts = ref.popularity_counts(split.train)[:n_items]
    queries = np.flatnonzero(counts >= MIN_QUERY_RATINGS)
    labels = Labels.read(split.source, split.item_ids)
    judge = ref.CoRating(split.test, n_items, queries)
    print(f"{len(queries):,} queries (movies with >= {MIN_QUERY_RATINGS} ratings in the 80%), "
          f"{int(judge.scored.sum()):,} of them rated in the held-out 20%")

    gram = ref.gram(split.train)[:n_items, :n_items]
    l2, _ = ref.choose_ease_l2(split.train)
    methods: dict[str, np.ndarray] = {"product (`similar`)": _product_similar(index, split, queries)}
    for name, (transform, weight) in VARIANTS.items():
        methods[f"product vectors, {name}"] = _vector_neighbours(index, split, queries, transform, weight)
    methods["co-occurrence cosine"] = _top_k_rows(_cooccurrence_cosine(gram, queries), queries)
    methods[f"EASE (lambda {l2:g})"] = _top_k_rows(ref.ease_weights(gram, l2)[queries], queries)
    methods["random"] = _random_picks(queries, n_items, seed)

    print(f"\n{str(K) + ' neighbours of each query':<54} {'genre share@10':>14} {'group share@10':>14} "
          f"{'co-rating lift@10':>17}")
    figures = {}
    for name, top in methods.items():
        genre, group, lift = labels.genre_share(top, queries), labels.group_share(top, queries), judge.lift(top)
        figures[f"{name}: genre share"], figures[f"{name}: lift"] = genre, lift
        group_text = f"{group:14.3f}" if group is not None else f"{'-':>14}"
        print(f"{name:<54} {genre:14.3f} {group_text} {lift:17.2f}")
    cooc = "co-occurrence cosine"
    for measure in ("genre share", "lift"):
        ratio = figures[f"product (`similar`): {measure}"] / figures[f"{cooc}: {measure}"]
        figures[f"product / co-occurrence: {measure}"] = ratio
        print(f"product / co-occurrence, {measure}: {ratio:.3f}x")
    _print_example(index, split, labels, counts, methods, queries)
    return figures


def _centred(v: np.ndarray) -> np.ndarray:
    return v - v.mean(axis=0)


def _remove_top(v: np.ndarray) -> np.ndarray:
    _, _, vt = np.linalg.svd(v, full_matrices=False)
    return v - np.outer(v @ vt[0], vt[0])


def _whiten(v: np.ndarray) -> np.ndarray:
    _, s, vt = np.linalg.svd(v, full_matrices=False)
    return (v @ vt.T) / np.maximum(s, 1e-6)


def _remove_popularity(v: np.ndarray, count: np.ndarray) -> np.ndarray:
    """v less its component along the direction that best predicts log(1 + ratings)."""
    x = np.log1p(count) - np.log1p(count).mean()
    direction = normalize((x @ v)[None, :])[0]
    return v - np.outer(v @ direction, direction)


# Other readings of the product's item vectors, tried when `similar` was chosen: (vectors, ratings per item) ->
# vectors compared by cosine, and the weight of log(1 + ratings of the neighbour) added to the cosine.
VARIANTS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float]] = {
    "raw cosine (before)": (lambda v, c: v, 0.0),
    "centred": (lambda v, c: _centred(v), 0.0),
    "centred, top direction removed": (lambda v, c: _remove_top(_centred(v)), 0.0),
    "centred, whitened": (lambda v, c: _whiten(_centred(v)), 0.0),
    "centred, popularity direction removed": (lambda v, c: _remove_popularity(_centred(v), c), 0.0),
    **{f"centred + {w:g} log1p(ratings)": (lambda v, c: _centred(v), w) for w in (0.02, 0.05, 0.08)},
}


class Labels:
    """Each movie's genres (movies.csv) and, on the sample, its planted taste group, by index of the 80%."""

    def __init__(self, genres: list[frozenset[str]], groups: np.ndarray | None):
        self.genres, self.groups = genres, groups

    @classmethod
    def read(cls, source: str, item_ids: np.ndarray) -> "Labels":
        with open(os.path.join(source, "movies.csv"), encoding="utf-8") as f:
            by_id = {int(r["movieId"]): frozenset(g for g in r["genres"].split("|") if g != "(no genres listed)")
                     for r in csv.DictReader(f)}
        genres = [by_id.get(int(i), frozenset()) for i in item_ids]
        planted = os.path.join(source, "planted_movie_groups.csv")
        groups = None
        if os.path.exists(planted):
            with open(planted, encoding="utf-8") as f:
                group_of = {int(r["movieId"]): int(r["group"]) for r in csv.DictReader(f)}
            groups = np.array([group_of.get(int(i), -1) for i in item_ids])
        return cls(genres, groups)

    def genre_share(self, top: np.ndarray, queries: np.ndarray) -> float:
        shared = [bool(self.genres[q] & self.genres[n]) for q, row in zip(queries, top) for n in row if n >= 0]
        return float(np.mean(shared))

    def group_share(self, top: np.ndarray, queries: np.ndarray) -> float | None:
        if self.groups is None:
            return None
        found = top >= 0
        return float((self.groups[np.where(found, top, 0)] == self.groups[queries][:, None])[found].mean())


def _product_similar(index, split: Split, queries: np.ndarray) -> np.ndarray:
    """`similar`'s 10 neighbours of each query, as indices of the 80% (-1 where the model lacks the query)."""
    positions = [index.item_position(str(split.item_ids[q])) for q in queries]
    known = np.array([p is not None for p in positions])
    top = np.full((len(queries), K), -1, np.int64)
    neighbours, _ = index.neighbours(K, np.array([p for p in positions if p is not None], np.int64))
    top[known] = _index_to_split(index, split)[neighbours]
    return top


def _vector_neighbours(index, split: Split, queries: np.ndarray,
                       transform: Callable[[np.ndarray, np.ndarray], np.ndarray], weight: float) -> np.ndarray:
    """Neighbours by the cosine of `transform(item vectors, ratings per item)` + weight * log(1 + ratings)."""
    to_split = _index_to_split(index, split)
    count = index.item_count.astype(np.float64)
    neighbours, _ = cosine_top_k(transform(index.items.astype(np.float64), count), K,
                                 prior=(weight * np.log1p(count)).astype(np.float32))
    from_split = {int(s): p for p, s in enumerate(to_split)}
    top = np.full((len(queries), K), -1, np.int64)
    for row, q in enumerate(queries):
        if int(q) in from_split:
            top[row] = to_split[neighbours[from_split[int(q)]]]
    return top


def _index_to_split(index, split: Split) -> np.ndarray:
    raw = np.array([int(i) for i in index.item_ids])
    pos = np.minimum(np.searchsorted(split.item_ids, raw), len(split.item_ids) - 1)
    return np.where(split.item_ids[pos] == raw, pos, -1)


def _cooccurrence_cosine(gram: np.ndarray, queries: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.maximum(np.diag(gram), 1e-12))
    return gram[queries] / norms[queries][:, None] / norms[None, :]


def _top_k_rows(scores: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Each row's K best columns, the query itself left out; ties go to the lower index."""
    scores = np.array(scores, np.float64)
    scores[np.arange(len(queries)), queries] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return order


def _random_picks(queries: np.ndarray, n_items: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = rng.integers(0, n_items - 1, (len(queries), K))
    return top + (top >= queries[:, None])  # never the query itself


def _print_example(index, split: Split, labels: Labels, counts: np.ndarray, methods: dict[str, np.ndarray],
                   queries: np.ndarray) -> None:
    """The neighbours of the most-rated movie by the raw cosine, `similar` and co-occurrence."""
    with open(os.path.join(split.source, "movies.csv"), encoding="utf-8") as f:
        titles = {int(r["movieId"]): r["title"] for r in csv.DictReader(f)}
    row = int(np.argmax(counts[queries]))
    q = queries[row]
    group = f", group {labels.groups[q]}" if labels.groups is not None else ""
    print(f"\nNeighbours of the most-rated movie, {titles[int(split.item_ids[q])]} "
          f"({int(counts[q])} ratings in the 80%{group}, genres {'|'.join(sorted(labels.genres[q]))}):")
    for name in ("product vectors, raw cosine (before)", "product (`similar`)", "co-occurrence cosine"):
        print(f"  {name}:")
        for n in methods[name][row]:
            if n >= 0:
                group = f" group {labels.groups[n]}" if labels.groups is not None else ""
                print(f"    {titles[int(split.item_ids[n])][:50]:<50} {int(counts[n]):>5} ratings{group}  "
                      f"{'|'.join(sorted(labels.genres[n]))}")


if __name__ == "__main__":
    main()
