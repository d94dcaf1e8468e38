"""The ratings sample is shaped like MovieLens latest-small, and its taste structure is there to find."""

import filecmp
import os

import numpy as np
import pyarrow.csv as pacsv
import pytest

from embedflow.ratings_stats import folder_stats
from embedflow.sample_tables import RatingsSample, write_ratings_sample
from trainer import references as ref

SMALL = RatingsSample(users=300, movies=3000, ratings=45_000, seed=5)  # ml-latest-small's density, a third the size


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("default_sample"))
    write_ratings_sample(folder)
    return folder


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("small_sample"))
    write_ratings_sample(folder, SMALL)
    return folder


def test_default_sample_has_the_shape_of_movielens_latest_small(default_sample):
    s = folder_stats(default_sample)
    assert (s.ratings, s.users) == (RatingsSample.ratings, RatingsSample.users)
    assert s.items >= 0.95 * RatingsSample.movies           # nearly every movie has a rating, as in MovieLens
    assert s.user_min >= 20 and 50 <= s.user_median <= 100 and 200 <= s.user_p90 <= 450
    assert s.item_median <= 5 and 15 <= s.item_p90 <= 45     # the long tail
    assert 0.2 <= s.item_single_share <= 0.45
    assert 0.08 <= s.top1_share <= 0.25 and 0.45 <= s.top10_share <= 0.75
    assert 3.3 <= s.rating_mean <= 3.7 and 0.9 <= s.rating_sd <= 1.2 and s.rating_mode == 4.0
    assert 0.15 <= s.half_star_share <= 0.35
    assert 0.35 <= s.user_mean_sd <= 0.6 and 0.35 <= s.item_mean_sd <= 0.6


def test_shape_holds_at_another_size(small_sample):
    s = folder_stats(small_sample)
    assert s.ratings == SMALL.ratings and s.user_min >= 20
    assert s.item_median <= 6 and 0.45 <= s.top10_share <= 0.75
    assert 3.3 <= s.rating_mean <= 3.8 and s.rating_mode == 4.0


def test_same_seed_same_bytes(small_sample, tmp_path):
    write_ratings_sample(str(tmp_path), SMALL)
    for name in ("ratings.csv", "movies.csv", "planted_movie_groups.csv", "planted_user_groups.csv"):
        assert filecmp.cmp(os.path.join(small_sample, name), os.path.join(tmp_path, name), shallow=False), name


def test_planted_tastes_decide_what_users_rate(small_sample):
    """A user's ratings fall in their two liked groups (of 8) far more often than chance (2/8)."""
    ratings = pacsv.read_csv(os.path.join(small_sample, "ratings.csv"))
    groups = pacsv.read_csv(os.path.join(small_sample, "planted_movie_groups.csv"))
    liked = pacsv.read_csv(os.path.join(small_sample, "planted_user_groups.csv"))
    movie_ids = groups.column("movieId").to_numpy()
    group = groups.column("group").to_numpy()[np.searchsorted(movie_ids, ratings.column("movieId").to_numpy())]
    user = np.searchsorted(liked.column("userId").to_numpy(), ratings.column("userId").to_numpy())
    in_liked = (group == liked.column("liked_group_a").to_numpy()[user]) | \
               (group == liked.column("liked_group_b").to_numpy()[user])
    assert in_liked.mean() > 0.45


def test_ease_clearly_beats_popularity_on_the_sample(small_sample):
    """The taste structure is learnable: EASE's top-10 is well above the most-popular list's.

    Measured at this size: 1.40x recall@10, 1.37x NDCG@10; with the planted
    tastes switched off, 0.92x and 0.92x.
    """
    table = pacsv.read_csv(os.path.join(small_sample, "ratings.csv"))
    users = np.unique(table.column("userId").to_numpy(), return_inverse=True)[1]
    items = np.unique(table.column("movieId").to_numpy(), return_inverse=True)[1]
    everything = ref.RatingArrays(users, items, table.column("rating").to_numpy(), users.max() + 1, items.max() + 1)
    held = ref.holdout_split(len(users), 0.2, seed=0)
    train, test = everything.subset(~held), everything.subset(held)
    scored = ref.users_to_score(test)
    popular = ref.evaluate_top_k(ref.top_k_unrated(ref.popularity_scorer(train), train, scored), scored, test)
    ease = ref.evaluate_top_k(ref.top_k_unrated(ref.ease_scorer(train, ref.ease_weights(ref.gram(train), 300.0)),
                                                train, scored), scored, test)
    assert ease["recall@10"] > 1.25 * popular["recall@10"], (ease, popular)
    assert ease["ndcg@10"] > 1.25 * popular["ndcg@10"], (ease, popular)


def test_wide_housing_sample_has_the_shapes_of_a_real_sales_table(tmp_path):
    from embedflow.sample_housing_wide import WideHousingSample, write_wide_housing_sample

    path = write_wide_housing_sample(str(tmp_path / "a"), WideHousingSample(rows=600, seed=3))["housing_wide"]
    again = write_wide_housing_sample(str(tmp_path / "b"), WideHousingSample(rows=600, seed=3))["housing_wide"]
    assert filecmp.cmp(path, again, shallow=False)
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    text = [n for n in table.column_names if table.schema.field(n).type == "string"]
    assert table.num_rows == 600 and table.num_columns == 84 and len(text) == 43  # README and the docstring say so
    assert table.column("Lot_Frontage").null_count > 0 and table.column("Garage_Yr_Blt").null_count > 0
    assert "NA" in table.column("Pool_QC").to_pylist() and "None" in table.column("Mas_Vnr_Type").to_pylist()
    price = table.column("SalePrice").to_numpy()
    assert price.min() > 0 and np.mean(price) > np.median(price)  # positive, right-skewed
