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

from embedflow.sample_checks import check_housing_sample, check_ratings_sample
from embedflow.sample_csv import write_csv

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
    """Sizes of a ratings sample; the default is MovieLens latest-small's (671 users, 9,066 movies)."""

    users: int = 671
    movies: int = 9_066
    ratings: int = 100_000
    groups: int = 8
    seed: int = 7
    ratings_seed: int | None = None  # another day of ratings from the same world (same users, movies, tastes)
    taste: float = 1.0  # strength of the planted tastes (1: as in real ratings; more for checks of the structure)
    __post_init__ = check_ratings_sample


# The shape of real ratings, calibrated so that a sample of ml-latest-small's size has its statistics
# (see embedflow/ratings_stats.py) and ranks the references as real ratings do (bench/ranking.py --seeds 0,1,2
# prints the ratios: EASE / most popular, iALS / EASE, SVD++ / bias-only and bias-only / global-mean RMSE).
MIN_RATINGS_PER_USER = 20      # MovieLens keeps only users with 20+ ratings
ACTIVITY_SIGMA = 1.4           # lognormal spread of each user's ratings above the minimum
MAX_USER_SHARE = 0.5           # no user rates more than this share of the catalogue
POPULARITY_SIGMA = 2.15        # lognormal spread of movie popularity...
POPULARITY_KNEE = 2.0          # ...flattened above this many sds, so no movie is rated by everyone
POPULARITY_HEAD_SLOPE = 0.5
ONBOARDING_RATINGS = 25        # a user's first ratings lean to popular movies...
ONBOARDING_EXPONENT = 1.8      # ...drawn by popularity ** this
TASTE_EXPOSURE = 1.5           # log-odds boost for rating a movie of a liked group
TASTE_RATING = 0.9             # stars added for a movie of a liked group
RATING_CENTRE = 2.62
USER_BIAS_SD = 0.48
MOVIE_BIAS_SD = 0.55
POPULAR_IS_LIKED = 0.6         # correlation of a movie's popularity with its rating bias
RATING_NOISE_SD = 0.72
WHOLE_STAR_USERS = 0.40        # share of users who never give half stars
# Finer tastes than the groups: each group splits into "circles" (a franchise, a director, a scene) of about
# CIRCLE_SIZE movies, and each user follows a few circles, mostly inside the groups they like.  Circles are an
# item-item structure of higher rank than a few latent factors hold, which is why on real ratings EASE (every
# item pair) beats 32-factor iALS; drawn mostly from a circle's popular movies, their pairs are seen often enough
# to learn.
CIRCLE_SIZE = 100
CIRCLES_FOLLOWED = 3           # circles each user follows
CIRCLES_IN_LIKED_GROUPS = 0.8  # share of a user's circles inside the two groups they like
CIRCLE_SHARE = 0.7             # share of a user's ratings (after onboarding) drawn from the circles they follow
CIRCLE_RATING = 0.55           # stars added for a movie of a followed circle
CIRCLE_POPULARITY = 2.0        # inside a circle, movies are drawn by popularity ** this


@dataclasses.dataclass(frozen=True)
class _World:
    """What stays fixed from day to day: the catalogue, the users and their tastes."""

    movie_group: np.ndarray
    popularity: np.ndarray     # relative chance of being rated, before taste
    movie_bias: np.ndarray
    liked: np.ndarray          # (users, 2): the two planted groups each user likes
    movie_circle: np.ndarray   # each movie's circle (circles nest in groups)
    followed: np.ndarray       # (users, CIRCLES_FOLLOWED): the circles each user follows
    user_bias: np.ndarray
    whole_stars: np.ndarray    # users who rate in whole stars only
    per_user: np.ndarray       # ratings each user gives
    taste_exposure: float      # log-odds boost for rating a movie of a liked group


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

    Which movies a user rates: chance ~ popularity x exp(TASTE_EXPOSURE if the
    movie's planted group is one of the user's two liked groups), or, for
    CIRCLE_SHARE of the ratings after onboarding, a movie of one of the circles
    the user follows; popularity is long-tailed and activity per user
    heavy-tailed with a minimum of 20, as in MovieLens.  How they rate: global
    centre + user bias + movie bias (higher for popular movies) + TASTE_RATING
    for a liked group + CIRCLE_RATING for a followed circle + noise, in half
    stars (whole stars for about half the users), clipped to 0.5..5.
    """
    rng = np.random.default_rng(cfg.seed)
    os.makedirs(out_dir, exist_ok=True)
    movie_ids, titles, genres_text, world = _world(rng, cfg)
    if cfg.ratings_seed is not None:
        rng = np.random.default_rng([cfg.seed, cfg.ratings_seed])
    users, movies = _draw_pairs(rng, world, cfg.groups)
    liked = (world.movie_group[movies] == world.liked[users, 0]) | (world.movie_group[movies] == world.liked[users, 1])
    follows = (world.followed[users] == world.movie_circle[movies][:, None]).any(axis=1)
    score = (RATING_CENTRE + world.user_bias[users] + world.movie_bias[movies]
             + cfg.taste * (TASTE_RATING * liked + CIRCLE_RATING * follows)
             + rng.normal(0.0, RATING_NOISE_SD / cfg.taste, len(users)))
    half_stars = np.where(world.whole_stars[users], 2 * np.rint(score), np.rint(2 * score))
    half_stars = np.clip(half_stars, 1, 10).astype(np.int64)
    timestamps = rng.integers(946_684_800, 1_672_531_200, size=len(users))
    order = np.lexsort((timestamps, users))

    paths = {"ratings": os.path.join(out_dir, "ratings.csv"), "movies": os.path.join(out_dir, "movies.csv")}
    ratings_table = pa.table({
        "userId": pa.array(users[order] + 1),
        "movieId": pa.array(movie_ids[movies[order]]),
        "rating": pa.array(half_stars[order] / 2.0),
        "timestamp": pa.array(timestamps[order]),
    })
    write_csv(ratings_table, paths["ratings"])
    with open(paths["movies"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(zip(movie_ids.tolist(), titles, genres_text))
    write_csv(pa.table({"movieId": pa.array(movie_ids), "group": pa.array(world.movie_group)}),
               os.path.join(out_dir, "planted_movie_groups.csv"))
    write_csv(pa.table({"userId": pa.array(np.arange(1, cfg.users + 1)),
                         "liked_group_a": pa.array(world.liked[:, 0]), "liked_group_b": pa.array(world.liked[:, 1])}),
               os.path.join(out_dir, "planted_user_groups.csv"))
    log.info("Wrote %d ratings by %d users of %d movies to %s", len(users), cfg.users, cfg.movies, out_dir)
    return paths


def _world(rng: np.random.Generator, cfg: RatingsSample) -> tuple[np.ndarray, list[str], list[str], _World]:
    """Movies (ids, titles, genres, planted group, popularity, bias) and users (bias, tastes, activity)."""
    n_genres = len(GENRES)
    movie_group = rng.integers(0, cfg.groups, size=cfg.movies)
    signature = np.stack([np.arange(cfg.groups) % n_genres, (np.arange(cfg.groups) * 7 + 3) % n_genres], axis=1)
    years = rng.integers(1930, 2024, size=cfg.movies)
    movie_ids = np.sort(rng.choice(np.arange(1, cfg.movies * 3 + 1), size=cfg.movies, replace=False))
    genres_text = _genres(rng, signature[movie_group])
    titles = _titles(rng, cfg.movies, years)
    z = rng.normal(0.0, 1.0, cfg.movies)
    log_popularity = POPULARITY_SIGMA * np.where(z > POPULARITY_KNEE, POPULARITY_KNEE
                                                 + POPULARITY_HEAD_SLOPE * (z - POPULARITY_KNEE), z)
    popularity = np.exp(log_popularity)
    z = (log_popularity - log_popularity.mean()) / log_popularity.std()
    movie_bias = MOVIE_BIAS_SD * (POPULAR_IS_LIKED * z
                                  + np.sqrt(1 - POPULAR_IS_LIKED**2) * rng.normal(0.0, 1.0, cfg.movies))
    first = rng.integers(0, cfg.groups, cfg.users)
    second = (first + rng.integers(1, max(cfg.groups, 2), cfg.users)) % cfg.groups
    liked = np.stack([first, second], axis=1)
    movie_circle, followed = _circles(rng, movie_group, liked, cfg.groups)
    world = _World(movie_group=movie_group, popularity=popularity, movie_bias=movie_bias, liked=liked,
                   movie_circle=movie_circle, followed=followed, user_bias=rng.normal(0.0, USER_BIAS_SD, cfg.users),
                   whole_stars=rng.random(cfg.users) < WHOLE_STAR_USERS,
                   per_user=_ratings_per_user(rng, cfg), taste_exposure=cfg.taste * TASTE_EXPOSURE)
    return movie_ids, titles, genres_text, world


def _circles(rng: np.random.Generator, movie_group: np.ndarray, liked: np.ndarray,
             groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Each movie's circle (about CIRCLE_SIZE movies of one group) and the CIRCLES_FOLLOWED circles of each user.

    A user's circles are drawn from the two groups they like with chance
    CIRCLES_IN_LIKED_GROUPS, else from any group.
    """
    per_group = np.maximum(1, np.rint(np.bincount(movie_group, minlength=groups) / CIRCLE_SIZE)).astype(np.int64)
    first_circle = np.r_[0, np.cumsum(per_group)]
    movie_circle = first_circle[movie_group] + rng.integers(0, per_group[movie_group])
    n_users = len(liked)
    group = np.where(rng.random((n_users, CIRCLES_FOLLOWED)) < CIRCLES_IN_LIKED_GROUPS,
                     np.take_along_axis(liked, rng.integers(0, 2, (n_users, CIRCLES_FOLLOWED)), axis=1),
                     rng.integers(0, groups, (n_users, CIRCLES_FOLLOWED)))
    followed = first_circle[group] + rng.integers(0, per_group[group])
    return movie_circle, followed


def _genres(rng: np.random.Generator, signature: np.ndarray) -> list[str]:
    """Mostly the movie's group's two signature genres, sometimes one more, rarely none."""
    n = len(signature)
    chosen = np.zeros((n, len(GENRES)), bool)
    keep = rng.random((n, 2)) < 0.85
    rows = np.repeat(np.arange(n), 2)
    chosen[rows[keep.ravel()], signature.ravel()[keep.ravel()]] = True
    extra = rng.random(n) < 0.3
    chosen[np.flatnonzero(extra), rng.integers(0, len(GENRES), extra.sum())] = True
    chosen[rng.random(n) < 0.01] = False
    names = np.array(GENRES)
    return ["|".join(names[row]) if row.any() else NO_GENRES for row in chosen]


def _ratings_per_user(rng: np.random.Generator, cfg: RatingsSample) -> np.ndarray:
    """A minimum plus a lognormal excess, scaled so the counts add up to cfg.ratings exactly.

    The minimum is MovieLens's 20 unless the sample has fewer ratings per user
    than that allows; no user rates more than MAX_USER_SHARE of the catalogue.
    """
    floor = max(1, min(MIN_RATINGS_PER_USER, int(0.75 * cfg.ratings / cfg.users)))
    cap = max(floor, int(MAX_USER_SHARE * cfg.movies))
    excess = rng.lognormal(0.0, ACTIVITY_SIGMA, cfg.users)
    budget = min(cfg.ratings, cap * cfg.users) - floor * cfg.users
    low, high = 0.0, budget / excess.min() + 1.0
    for _ in range(60):  # the scale at which the capped excesses add up to the budget
        mid = (low + high) / 2
        low, high = (mid, high) if np.minimum(mid * excess, cap - floor).sum() < budget else (low, mid)
    wanted = np.minimum(high * excess, cap - floor)
    counts = np.floor(wanted).astype(np.int64)
    short = budget - counts.sum()
    if short > 0:  # largest remainders get the last ratings
        counts[np.argsort(counts - wanted, kind="stable")[:short]] += 1
    return floor + np.minimum(counts, cap - floor)


class _Exposure:
    """Who rates what: with chance 1 - `circle_share`, P(movie | user) ~ weight(movie) x exp(TASTE_EXPOSURE if its
    group is one the user likes); with chance `circle_share`, a movie of one of the user's circles, by weight.

    Sampled in steps, never per (user, movie) pair: a group by the user's
    exposure to it (the group's weight mass x taste boost), then a movie of
    that group by weight; or one of the user's circles, then a movie of it.
    """

    def __init__(self, weight: np.ndarray, world: _World, groups: int, circle_share: float = 0.0):
        n_users = len(world.per_user)
        self.circle_share, self.movie_circle, self.followed = circle_share, world.movie_circle, world.followed
        n_circles = int(world.movie_circle.max()) + 1
        self.by_circle = np.argsort(world.movie_circle, kind="stable")
        self.circle_start = np.r_[0, np.cumsum(np.bincount(world.movie_circle, minlength=n_circles))]
        circle_weight = weight ** CIRCLE_POPULARITY
        circle_mass = np.bincount(world.movie_circle, circle_weight, minlength=n_circles)
        self.within_circle = circle_weight / circle_mass[world.movie_circle]
        self.circle_cum = np.cumsum(self.within_circle[self.by_circle])       # circle c spans (c, c + 1]
        self.movie_group, self.groups = world.movie_group, groups
        self.by_group = np.argsort(world.movie_group, kind="stable")
        self.group_start = np.r_[0, np.cumsum(np.bincount(world.movie_group, minlength=groups))]
        group_mass = np.bincount(world.movie_group, weight, minlength=groups)
        self.within = weight / group_mass[world.movie_group]                  # P(movie | its group)
        self.movie_cum = np.cumsum(self.within[self.by_group])                 # group g spans (g, g + 1]
        boost = np.ones((n_users, groups))
        np.put_along_axis(boost, world.liked, np.exp(world.taste_exposure), axis=1)
        self.p_group = group_mass * boost
        self.p_group /= self.p_group.sum(axis=1, keepdims=True)
        self.group_cum = (np.cumsum(self.p_group, axis=1) + np.arange(n_users)[:, None]).ravel()  # u: (u, u + 1]

    def draw(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """One movie for each entry of `users`, with replacement."""
        group = np.searchsorted(self.group_cum, users + rng.random(len(users)), side="right")
        group = np.minimum(group, users * self.groups + self.groups - 1) - users * self.groups
        pos = np.searchsorted(self.movie_cum, group + rng.random(len(users)), side="right")
        movies = self.by_group[np.clip(pos, self.group_start[group], self.group_start[group + 1] - 1)]
        from_circle = rng.random(len(users)) < self.circle_share
        circle = self.followed[users[from_circle], rng.integers(0, self.followed.shape[1], from_circle.sum())]
        pos = np.searchsorted(self.circle_cum, circle + rng.random(len(circle)), side="right")
        movies[from_circle] = self.by_circle[np.clip(pos, self.circle_start[circle], self.circle_start[circle + 1] - 1)]
        return movies

    def probability(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        followed = (self.followed[users] == self.movie_circle[movies][:, None]).sum(axis=1) / self.followed.shape[1]
        return ((1.0 - self.circle_share) * self.p_group[users, self.movie_group[movies]] * self.within[movies]
                + self.circle_share * followed * self.within_circle[movies])


def _draw_pairs(rng: np.random.Generator, world: _World, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, movie) pairs, world.per_user[u] of them for user u.

    Every movie gets one rating first (MovieLens lists only rated movies), by
    a user drawn by activity and taste.  A user's first ONBOARDING_RATINGS
    come from a steeper popularity (popularity ** ONBOARDING_EXPONENT), as
    MovieLens shows new users popular movies to rate; the rest by popularity.
    """
    users, movies = _first_ratings(rng, world, groups)
    onboarding = np.minimum(world.per_user, ONBOARDING_RATINGS)
    users, movies = _fill(rng, _Exposure(world.popularity ** ONBOARDING_EXPONENT, world, groups), users, movies,
                          np.maximum(onboarding, np.bincount(users, minlength=len(world.per_user))))
    users, movies = _fill(rng, _Exposure(world.popularity, world, groups, CIRCLE_SHARE), users, movies,
                          world.per_user)
    if len(users) < world.per_user.sum():  # a user whose exposure is spent on what they rated: any movie will do
        users, movies = _fill(rng, _Exposure(np.ones(len(world.popularity)), world, groups), users, movies,
                              world.per_user)
    if len(users) < world.per_user.sum():
        log.warning("Only %d distinct (user, movie) pairs could be drawn; asked for %d",
                    len(users), world.per_user.sum())
    return users, movies


def _fill(rng: np.random.Generator, exposure: _Exposure, users: np.ndarray, movies: np.ndarray,
          per_user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add distinct pairs drawn by `exposure` until user u has per_user[u] of them.

    Draws are with replacement, so each round draws the missing count divided
    by the exposure mass a user has not rated yet, keeps the new distinct
    pairs, and trims each user to their count.
    """
    n_users, n_movies = len(per_user), len(exposure.within)
    for _ in range(30):
        need = per_user - np.bincount(users, minlength=n_users)
        if not need.any():
            break
        seen = np.bincount(users, exposure.probability(users, movies), minlength=n_users)
        new_users = np.repeat(np.arange(n_users), np.ceil(need * 1.2 / np.maximum(1.0 - seen, 0.02)).astype(np.int64))
        users, movies = _keep_distinct(rng, np.r_[users, new_users], np.r_[movies, exposure.draw(rng, new_users)],
                                       len(users), per_user, n_movies)
    return users, movies


def _first_ratings(rng: np.random.Generator, world: _World, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """One rating of each movie, by a user drawn by activity x taste for the movie's group."""
    n_movies = len(world.movie_group)
    if n_movies > world.per_user.sum() // 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    users = np.empty(n_movies, np.int64)
    likes = np.exp(world.taste_exposure) - 1.0
    for group in range(groups):
        members = np.flatnonzero(world.movie_group == group)
        weight = np.cumsum(world.per_user * (1.0 + likes * (world.liked == group).any(axis=1)))
        users[members] = np.searchsorted(weight, rng.random(len(members)) * weight[-1], side="right")
    order = np.lexsort((np.arange(n_movies), users))
    return users[order], order


def _keep_distinct(rng: np.random.Generator, users: np.ndarray, movies: np.ndarray, kept: int,
                   per_user: np.ndarray, n_movies: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs, at most per_user[u] for user u: the first `kept` pairs always, then new ones at random."""
    priority = np.r_[np.full(kept, -1.0), rng.random(len(users) - kept)]
    code = users * n_movies + movies
    order = np.lexsort((priority, code))
    order = order[np.r_[True, code[order][1:] != code[order][:-1]]]      # first of each pair: kept ones win
    order = order[np.lexsort((priority[order], users[order]))]
    rank = np.arange(len(order)) - np.searchsorted(users[order], users[order])
    order = np.sort(order[rank < per_user[users[order]]])
    return users[order], movies[order]


@dataclasses.dataclass(frozen=True)
class HousingSample:
    rows: int = 20_000
    neighbourhoods: int = 40
    seed: int = 7
    __post_init__ = check_housing_sample


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
    write_csv(table, path)
    with open(os.path.join(out_dir, "planted_neighbourhoods.csv"), "w", encoding="utf-8") as f:
        f.write("longitude,latitude\n")
        f.writelines(f"{x:.3f},{y:.3f}\n" for x, y in centres)
    log.info("Wrote %d housing rows with %d planted neighbourhoods to %s", n, cfg.neighbourhoods, out_dir)
    return {"housing": path}


def add_arguments(parser) -> None:
    from embedflow.sample_housing_wide import WideHousingSample  # it writes with this module's write_csv

    parser.add_argument("--output", required=True, help="folder to write")
    parser.add_argument("--kind", choices=("movielens", "housing", "housing-wide"), default="movielens",
                        help="housing: the California-housing layout; housing-wide: an Ames-like table of 81 "
                             "columns")
    parser.add_argument("--rows", type=int, help=f"housing rows (default {HousingSample.rows:,}; housing-wide "
                                                 f"{WideHousingSample.rows:,})")
    parser.add_argument("--users", type=int, default=RatingsSample.users)
    parser.add_argument("--movies", type=int, default=RatingsSample.movies)
    parser.add_argument("--ratings", type=int, default=RatingsSample.ratings)
    parser.add_argument("--groups", type=int, default=RatingsSample.groups, help="planted taste groups")
    parser.add_argument("--seed", type=int, default=RatingsSample.seed)
    parser.add_argument("--ratings-seed", type=int,
                        help="draw another set of ratings (a new day) from the same users, movies and tastes")


def main_from_args(args, _extra_args: list[str]) -> None:
    if args.kind == "housing":
        write_housing_sample(args.output, HousingSample(rows=HousingSample.rows if args.rows is None else args.rows,
                                                        seed=args.seed))
    elif args.kind == "housing-wide":
        from embedflow.sample_housing_wide import WideHousingSample, write_wide_housing_sample

        write_wide_housing_sample(args.output, WideHousingSample(rows=WideHousingSample.rows if args.rows is None
                                                                 else args.rows,
                                                                 seed=args.seed))
    else:
        write_ratings_sample(args.output, RatingsSample(users=args.users, movies=args.movies, ratings=args.ratings,
                                                        groups=args.groups, seed=args.seed,
                                                        ratings_seed=args.ratings_seed))
    print(f"Wrote {args.kind} sample data to {args.output}")
    if args.kind == "movielens":
        from embedflow.ratings_stats import folder_stats, stats_table

        print("\n" + stats_table(folder_stats(args.output), names=("written", "ml-latest-small")))
