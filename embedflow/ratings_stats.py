"""The shape of a ratings table, in the figures that make recommendation hard or easy.

How many ratings each user and each item has, how concentrated they are on
a few popular items, and how ratings spread: generated sample data is only a
fair test of a recommender if these look like real ratings.  `sample-data`
prints them next to MovieLens latest-small's, and tests check the sample
stays in their neighbourhood.  Numpy only (no Beam), so benches and tests
share it.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pyarrow.csv as pacsv

MIN_RATINGS_FOR_ITEM_MEAN = 20  # items with fewer ratings have means dominated by noise


@dataclasses.dataclass(frozen=True)
class RatingsStats:
    ratings: int
    users: int
    items: int                   # items with at least one rating
    user_min: float              # ratings per user
    user_median: float
    user_p90: float
    item_median: float           # ratings per item
    item_p90: float
    item_single_share: float     # share of items with exactly one rating
    top1_share: float            # share of all ratings held by the 1% most-rated items
    top10_share: float
    rating_mean: float
    rating_sd: float
    rating_mode: float
    half_star_share: float       # share of ratings on x.5
    user_mean_sd: float          # spread of users' mean ratings
    item_mean_sd: float          # spread of items' mean ratings, items with >= MIN_RATINGS_FOR_ITEM_MEAN ratings


# ml-latest-small as published in 2016 (100,004 ratings), computed by `ratings_stats` on its ratings.csv.
MOVIELENS_LATEST_SMALL = RatingsStats(
    ratings=100_004, users=671, items=9_066, user_min=20, user_median=71, user_p90=323,
    item_median=3, item_p90=28, item_single_share=0.338, top1_share=0.160, top10_share=0.599,
    rating_mean=3.544, rating_sd=1.058, rating_mode=4.0, half_star_share=0.254,
    user_mean_sd=0.471, item_mean_sd=0.455)


def ratings_stats(users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> RatingsStats:
    """The statistics of one ratings table given as parallel arrays (any integer ids)."""
    ratings = np.asarray(ratings, np.float64)
    _, user_index, user_counts = np.unique(users, return_inverse=True, return_counts=True)
    _, item_index, item_counts = np.unique(items, return_inverse=True, return_counts=True)
    by_count = np.sort(item_counts)[::-1]
    held = np.cumsum(by_count) / by_count.sum()
    values, value_counts = np.unique(ratings, return_counts=True)
    user_means = np.bincount(user_index, ratings) / user_counts
    item_means = np.bincount(item_index, ratings) / item_counts
    well_rated = item_means[item_counts >= MIN_RATINGS_FOR_ITEM_MEAN]
    return RatingsStats(
        ratings=len(ratings), users=len(user_counts), items=len(item_counts),
        user_min=float(user_counts.min()), user_median=float(np.median(user_counts)),
        user_p90=float(np.percentile(user_counts, 90)),
        item_median=float(np.median(item_counts)), item_p90=float(np.percentile(item_counts, 90)),
        item_single_share=float(np.mean(item_counts == 1)),
        top1_share=float(held[int(np.ceil(0.01 * len(held))) - 1]),
        top10_share=float(held[int(np.ceil(0.10 * len(held))) - 1]),
        rating_mean=float(ratings.mean()), rating_sd=float(ratings.std()),
        rating_mode=float(values[np.argmax(value_counts)]),
        half_star_share=float(np.mean(ratings * 2 % 2 == 1)),
        user_mean_sd=float(user_means.std(ddof=1)),
        item_mean_sd=float(well_rated.std(ddof=1)) if len(well_rated) > 1 else float("nan"))


def folder_stats(folder: str) -> RatingsStats:
    """The statistics of a MovieLens-layout folder's ratings.csv."""
    table = pacsv.read_csv(os.path.join(folder, "ratings.csv"),
                           convert_options=pacsv.ConvertOptions(include_columns=["userId", "movieId", "rating"]))
    return ratings_stats(*(table.column(name).to_numpy() for name in ("userId", "movieId", "rating")))


_LABELS = {
    "ratings": "ratings", "users": "users", "items": "items rated",
    "user_min": "ratings per user: min", "user_median": "  median", "user_p90": "  90th percentile",
    "item_median": "ratings per item: median", "item_p90": "  90th percentile",
    "item_single_share": "  share with one rating", "top1_share": "share held by top 1% of items",
    "top10_share": "share held by top 10% of items", "rating_mean": "rating: mean", "rating_sd": "  sd",
    "rating_mode": "  mode", "half_star_share": "  share on half stars",
    "user_mean_sd": "sd of user mean ratings",
    "item_mean_sd": f"sd of item mean ratings ({MIN_RATINGS_FOR_ITEM_MEAN}+ ratings)",
}


def stats_table(stats: RatingsStats, reference: RatingsStats = MOVIELENS_LATEST_SMALL,
                names: tuple[str, str] = ("this table", "ml-latest-small")) -> str:
    """Two columns, one statistic a line: `stats` next to `reference`."""
    width = max(len(label) for label in _LABELS.values())
    lines = [f"{'':<{width}}  {names[0]:>12}  {names[1]:>15}"]
    for field in dataclasses.fields(RatingsStats):
        ours, theirs = getattr(stats, field.name), getattr(reference, field.name)
        lines.append(f"{_LABELS[field.name]:<{width}}  {_format(ours):>12}  {_format(theirs):>15}")
    return "\n".join(lines)


def _format(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.3f}"
