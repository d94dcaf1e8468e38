"""Seeded sample tables with planted structure, in the layouts users download.

The structure is known, so quality can be checked: MovieLens-style ratings
come from latent taste groups aligned with genres, and housing prices from a
surface with a few expensive neighbourhoods scattered over the grid.  The
ground truth is written beside the data (`planted_*.csv`); readers ignore it.
Same arguments and seed, same bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

log = logging.getLogger(__name__)

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
NO_GENRES = "(no genres listed)"
_WORDS = (
    "Night", "River", "Stone", "Shadow", "Summer", "Garden", "Winter", "Empire", "Ghost", "Dream",
    "Star", "City", "Heart", "Road", "Fire", "Island", "Secret", "Return", "Storm", "Mirror",
    "Silent", "Golden", "Lost", "Last", "Wild", "Broken", "Hidden", "Crimson", "Café", "Amélie",
)


@dataclasses.dataclass(frozen=True)
class RatingsSample:
    users: int = 2000
    movies: int = 1000
    ratings: int = 150_000
    groups: int = 8
    seed: int = 7
    ratings_seed: int | None = None  # another day of ratings from the same world (same users, movies, tastes)


def _titles(rng: np.random.Generator, n: int, years: np.ndarray) -> list[str]:
    """Unique-ish titles; some hold commas ("Ghost, The") so the CSV must quote them."""
    words = rng.integers(0, len(_WORDS), size=(n, 3))
    shape = rng.random(n)
    titles = []
    for i in range(n):
        a, b, c = (_WORDS[j] for j in words[i])
        if shape[i] < 0.15:
            name = f"{a} {b}, The"
        elif shape[i] < 0.25:
            name = f"{a}, {b} and {c}"
        else:
            name = f"{a} {b} {c}"
        titles.append(f"{name} #{i + 1} ({years[i]})")
    return titles


def write_ratings_sample(out_dir: str, cfg: RatingsSample = RatingsSample()) -> dict[str, str]:
    """Write ratings.csv and movies.csv (ml-latest layout) plus the planted truth.

    Ratings = global mean + user bias + movie bias + affinity(user, movie group) + noise,
    clipped to 0.5..5 in half stars.  Movie groups map to pairs of signature genres,
    users like two groups, and movie popularity is long-tailed.
    """
    rng = np.random.default_rng(cfg.seed)
    os.makedirs(out_dir, exist_ok=True)
    n_genres = len(GENRES)

    # Movies: a planted group, genres mostly the group's signature pair.
    movie_group = rng.integers(0, cfg.groups, size=cfg.movies)
    signature = np.stack([np.arange(cfg.groups) % n_genres, (np.arange(cfg.groups) * 7 + 3) % n_genres], axis=1)
    years = rng.integers(1930, 2024, size=cfg.movies)
    movie_ids = np.sort(rng.choice(np.arange(1, cfg.movies * 3 + 1), size=cfg.movies, replace=False))
    genres_text = []
    for m in range(cfg.movies):
        chosen = {int(g) for g in signature[movie_group[m]] if rng.random() < 0.85}
        if rng.random() < 0.3:
            chosen.add(int(rng.integers(0, n_genres)))
        if rng.random() < 0.01:
            chosen = set()
        genres_text.append("|".join(GENRES[g] for g in sorted(chosen)) if chosen else NO_GENRES)
    titles = _titles(rng, cfg.movies, years)
    popularity = 1.0 / (rng.permutation(cfg.movies) + 10.0)

    # Users: bias, two liked groups, long-tailed activity.
    user_bias = rng.normal(0.0, 0.3, cfg.users)
    liked = np.stack([rng.integers(0, cfg.groups, cfg.users), rng.integers(0, cfg.groups, cfg.users)], axis=1)
    affinity = np.full((cfg.users, cfg.groups), -0.5)
    affinity[np.arange(cfg.users), liked[:, 0]] = 1.0
    affinity[np.arange(cfg.users), liked[:, 1]] = 1.0
    movie_bias = rng.normal(0.0, 0.3, cfg.movies)
    activity = rng.lognormal(0.0, 0.8, cfg.users)
    if cfg.ratings_seed is not None:
        rng = np.random.default_rng([cfg.seed, cfg.ratings_seed])

    # Draw (user, movie) pairs: 60% from a liked group, 40% from the whole catalogue;
    # draw more than needed and drop repeated pairs, until there are enough.
    users = np.empty(0, dtype=np.int64)
    movies = np.empty(0, dtype=np.int64)
    for _ in range(8):
        more_users = rng.choice(cfg.users, size=cfg.ratings + 100, p=activity / activity.sum())
        more_movies = _draw_movies(rng, more_users, liked, movie_group, popularity, cfg.groups)
        users, movies = np.concatenate([users, more_users]), np.concatenate([movies, more_movies])
        _, first = np.unique(users * cfg.movies + movies, return_index=True)
        users, movies = users[np.sort(first)], movies[np.sort(first)]
        if len(users) >= cfg.ratings:
            break
    if len(users) < cfg.ratings:
        log.warning("Only %d distinct (user, movie) pairs could be drawn; asked for %d", len(users), cfg.ratings)
    keep = np.sort(rng.permutation(len(users))[: cfg.ratings])
    users, movies = users[keep], movies[keep]

    score = (3.5 + user_bias[users] + movie_bias[movies] + affinity[users, movie_group[movies]]
             + rng.normal(0.0, 0.5, len(users)))
    half_stars = np.clip(np.rint(score * 2), 1, 10).astype(np.int64)
    timestamps = rng.integers(946_684_800, 1_672_531_200, size=len(users))
    order = np.lexsort((timestamps, users))

    paths = {"ratings": os.path.join(out_dir, "ratings.csv"), "movies": os.path.join(out_dir, "movies.csv")}
    ratings_table = pa.table({
        "userId": pa.array(users[order] + 1),
        "movieId": pa.array(movie_ids[movies[order]]),
        "rating": pa.array(half_stars[order] / 2.0),
        "timestamp": pa.array(timestamps[order]),
    })
    _write_csv(ratings_table, paths["ratings"])
    with open(paths["movies"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(zip(movie_ids.tolist(), titles, genres_text))
    with open(os.path.join(out_dir, "planted_movie_groups.csv"), "w", encoding="utf-8") as f:
        f.write("movieId,group\n")
        f.writelines(f"{m},{g}\n" for m, g in zip(movie_ids.tolist(), movie_group.tolist()))
    with open(os.path.join(out_dir, "planted_user_groups.csv"), "w", encoding="utf-8") as f:
        f.write("userId,liked_group_a,liked_group_b\n")
        f.writelines(f"{u + 1},{a},{b}\n" for u, (a, b) in enumerate(liked.tolist()))
    log.info("Wrote %d ratings by %d users of %d movies to %s", len(users), cfg.users, cfg.movies, out_dir)
    return paths


def _draw_movies(rng: np.random.Generator, users: np.ndarray, liked: np.ndarray, movie_group: np.ndarray,
                 popularity: np.ndarray, groups: int) -> np.ndarray:
    """For each draw, a movie by popularity: from one of the user's liked groups, or from all."""
    movies = np.empty(len(users), dtype=np.int64)
    from_liked = rng.random(len(users)) < 0.6
    target_group = liked[users, rng.integers(0, 2, len(users))]
    everything = np.cumsum(popularity) / popularity.sum()
    rest = ~from_liked
    movies[rest] = np.searchsorted(everything, rng.random(rest.sum()))
    for g in range(groups):
        members = np.flatnonzero(movie_group == g)
        pick = from_liked & (target_group == g)
        if len(members) == 0:
            movies[pick] = np.searchsorted(everything, rng.random(pick.sum()))
            continue
        cum = np.cumsum(popularity[members]) / popularity[members].sum()
        movies[pick] = members[np.minimum(np.searchsorted(cum, rng.random(pick.sum())), len(members) - 1)]
    return np.minimum(movies, len(popularity) - 1)


def _write_csv(table: pa.Table, path: str) -> None:
    """CSV like GroupLens writes it: a bare header, quotes only where needed."""
    with open(path, "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="needed"))


@dataclasses.dataclass(frozen=True)
class HousingSample:
    rows: int = 20_000
    neighbourhoods: int = 40
    seed: int = 7


OCEAN_PROXIMITY = ("<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND")


def write_housing_sample(out_dir: str, cfg: HousingSample = HousingSample()) -> dict[str, str]:
    """Write housing.csv in the California-housing layout, plus the planted neighbourhoods.

    log(price) = base + income effect + age effect + coast effect + noise, plus a
    large premium inside a few small neighbourhoods scattered over the map.  A
    latitude band or a longitude band alone mixes neighbourhood and ordinary
    blocks; only the latitude x longitude cell isolates them.
    """
    rng = np.random.default_rng(cfg.seed)
    os.makedirs(out_dir, exist_ok=True)
    n = cfg.rows
    lon = rng.uniform(-124.3, -114.3, n)
    lat = rng.uniform(32.5, 42.0, n)
    centres = np.stack([rng.uniform(-123.5, -115.0, cfg.neighbourhoods),
                        rng.uniform(33.0, 41.5, cfg.neighbourhoods)], axis=1)
    distance = np.sqrt((lon[:, None] - centres[None, :, 0]) ** 2 + (lat[:, None] - centres[None, :, 1]) ** 2)
    premium = 1.0 * np.exp(-(distance.min(axis=1) / 0.3) ** 2)
    coast = np.clip((lon + 124.3) / 10.0 - (lat - 32.5) / 20.0, 0, 1)  # 0 on the coast, 1 far inland
    proximity = np.where(coast < 0.1, 2, np.where(coast < 0.3, 0, 1))
    proximity[(coast < 0.1) & (rng.random(n) < 0.3)] = 3
    proximity[rng.random(n) < 0.001] = 4
    income = rng.lognormal(1.25, 0.45, n)
    age = rng.integers(1, 53, n).astype(float)
    households = np.maximum(rng.lognormal(6.0, 0.6, n), 2).round()
    rooms = (households * rng.lognormal(np.log(5.2), 0.2, n)).round()
    bedrooms = (rooms * rng.uniform(0.17, 0.25, n)).round()
    population = (households * rng.lognormal(np.log(2.9), 0.25, n)).round()
    log_price = (11.6 + 0.5 * np.log(income) + 0.004 * age - 0.5 * coast + premium
                 + rng.normal(0.0, 0.12, n))
    price = np.clip(np.exp(log_price), 15_000, 500_001).round()
    bedrooms_text = np.array([f"{b:.1f}" for b in bedrooms], dtype=object)
    bedrooms_text[rng.random(n) < 0.01] = ""  # as in the real table, some blocks lack total_bedrooms
    path = os.path.join(out_dir, "housing.csv")
    table = pa.table({
        "longitude": pa.array(lon.round(2)), "latitude": pa.array(lat.round(2)),
        "housing_median_age": pa.array(age), "total_rooms": pa.array(rooms),
        "total_bedrooms": pa.array(bedrooms_text.tolist(), pa.string()),
        "population": pa.array(population), "households": pa.array(households),
        "median_income": pa.array(income.round(4)), "median_house_value": pa.array(price),
        "ocean_proximity": pa.array([OCEAN_PROXIMITY[p] for p in proximity]),
    })
    _write_csv(table, path)
    with open(os.path.join(out_dir, "planted_neighbourhoods.csv"), "w", encoding="utf-8") as f:
        f.write("longitude,latitude\n")
        f.writelines(f"{x:.3f},{y:.3f}\n" for x, y in centres)
    log.info("Wrote %d housing rows with %d planted neighbourhoods to %s", n, cfg.neighbourhoods, out_dir)
    return {"housing": path}


def add_arguments(parser) -> None:
    parser.add_argument("--output", required=True, help="folder to write")
    parser.add_argument("--kind", choices=("movielens", "housing"), default="movielens")
    parser.add_argument("--rows", type=int, default=HousingSample.rows, help="housing rows")
    parser.add_argument("--users", type=int, default=RatingsSample.users)
    parser.add_argument("--movies", type=int, default=RatingsSample.movies)
    parser.add_argument("--ratings", type=int, default=RatingsSample.ratings)
    parser.add_argument("--groups", type=int, default=RatingsSample.groups, help="planted taste groups")
    parser.add_argument("--seed", type=int, default=RatingsSample.seed)
    parser.add_argument("--ratings-seed", type=int,
                        help="draw another set of ratings (a new day) from the same users, movies and tastes")


def main_from_args(args, _extra_args: list[str]) -> None:
    if args.kind == "housing":
        write_housing_sample(args.output, HousingSample(rows=args.rows, seed=args.seed))
    else:
        write_ratings_sample(args.output, RatingsSample(users=args.users, movies=args.movies, ratings=args.ratings,
                                                        groups=args.groups, seed=args.seed,
                                                        ratings_seed=args.ratings_seed))
    print(f"Wrote {args.kind} sample data to {args.output}")
