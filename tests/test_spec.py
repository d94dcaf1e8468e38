"""The spec loads, resolves embedding dimensions, and rejects mistakes naming the file and feature."""

import textwrap

import pytest

from stage_contracts.errors import SpecError
from features.spec import load_spec

GOOD = """
    name: shop
    source: {format: csv}
    columns:
      user: {type: string}
      item: {type: int}
      price: {type: float, min: 0}
      tags: {type: string, required: false}
      clicked: {type: int}
    features:
      - {name: user_id, source: user, transform: vocabulary}
      - {name: item_id, source: item, transform: vocabulary, top_k: 1000}
      - {name: tags, source: tags, transform: vocabulary, separator: ";"}
      - {name: price_bucket, source: price, transform: quantile_bucketize, num_buckets: 8}
      - {name: price_z, source: price, transform: z_score, log: true}
      - {name: user_x_price, transform: hashed_cross, cross: [user_id, price_bucket], hash_buckets: 1000}
    label: {column: clicked, task: binary_classification}
"""


def write(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_builtin_movielens_spec_loads():
    spec = load_spec("movielens")
    assert [f.name for f in spec.features] == ["user_id", "movie_id", "genres", "year"]
    assert [c.name for c in spec.serving_columns()] == ["userId", "movieId"]
    assert spec.model.type == "two_tower"


def test_user_spec_loads(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    cross = spec.feature("user_x_price")
    assert cross.cross == ("user_id", "price_bucket")
    assert spec.feature("tags").is_multivalent


def test_fourth_root_rule_and_override():
    import dataclasses

    spec = load_spec("movielens")
    movie = dataclasses.replace(spec.feature("movie_id"), embedding_dim="auto")  # the spec widens its ids
    assert movie.embedding_size(500_000) == 27  # round(500000 ** 0.25) = round(26.6)
    assert movie.embedding_size(movie.cardinality(9_999)) == 10
    assert spec.feature("genres").embedding_size(21) == 4  # overridden in the spec
    assert spec.feature("movie_id").embedding_size(500_000) == 32


@pytest.mark.parametrize("old,new,feature,problem", [
    ("source: price, transform: z_score", "source: prize, transform: z_score", "price_z", "unknown column 'prize'"),
    ("transform: quantile_bucketize", "transform: quantile_bucket", "price_bucket", "unknown transform"),
    ("cross: [user_id, price_bucket]", "cross: [user_id, colour]", "user_x_price", "unknown feature 'colour'"),
    ("num_buckets: 8", "num_buckets: 1", "price_bucket", "'num_buckets' must be an integer >= 2"),
    ("name: price_z", "name: price_bucket", "price_bucket", "duplicate feature name"),
])
def test_spec_errors_name_file_and_feature(tmp_path, old, new, feature, problem):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert path in message and f"feature '{feature}'" in message and problem in message


def test_missing_label_is_named(tmp_path):
    path = write(tmp_path, GOOD.replace("    label: {column: clicked, task: binary_classification}\n", ""))
    with pytest.raises(SpecError, match="label") as err:
        load_spec(path)
    assert path in str(err.value)


def test_unknown_key_gets_a_suggestion(tmp_path):
    path = write(tmp_path, GOOD.replace("top_k: 1000", "topk: 1000"))
    with pytest.raises(SpecError, match="did you mean 'top_k'"):
        load_spec(path)


def test_describe_lists_every_feature_with_its_dimension():
    from embedflow.describe_spec import describe

    text = describe(load_spec("housing"))
    assert "location                   hashed_cross        latitude_bucket x longitude_bucket" in text
    assert "6 (auto; 1000 ids)" in text
    assert "log1p, then z-score" in text and "median_house_value (regression, log transform)" in text
    assert "total_bedrooms               float   optional (empty -> mean), >= 0" in text


def test_history_dropout_must_be_a_share_below_one(tmp_path):
    import os

    import features

    with open(os.path.join(os.path.dirname(features.__file__), "specs", "movielens.yaml")) as f:
        text = f.read()
    assert "  history_dropout: 0.25 " in text
    path = write(tmp_path, text.replace("  history_dropout: 0.25 ", "  history_dropout: 1.0 "))
    with pytest.raises(SpecError, match="'history_dropout' must be below 1") as err:
        load_spec(path)
    assert path in str(err.value)


def test_trees_categorical_algorithm_is_read_and_checked(tmp_path):
    text = """
        source: {format: csv, path: x.csv}
        columns: {colour: {type: string}, price: {type: float}}
        features: [{name: colour, source: colour, transform: vocabulary}]
        label: {column: price}
        model: {type: gradient_boosted_trees, categorical_algorithm: ALGORITHM}
    """
    assert load_spec(write(tmp_path, text.replace("ALGORITHM", "CART"))).model.trees.categorical_algorithm == "CART"
    assert load_spec(write(tmp_path, text.replace(", categorical_algorithm: ALGORITHM", ""))
                     ).model.trees.categorical_algorithm == "RANDOM"
    with pytest.raises(SpecError, match="did you mean 'RANDOM'"):
        load_spec(write(tmp_path, text.replace("ALGORITHM", "RANDOMX")))


def test_refit_trees_is_read_and_checked(tmp_path):
    text = """
        source: {format: csv, path: x.csv}
        columns: {colour: {type: string}, price: {type: float}}
        features: [{name: colour, source: colour, transform: vocabulary}]
        label: {column: price}
        model: {type: dnn_and_trees, refit_trees: REFIT}
    """
    assert load_spec(write(tmp_path, text.replace("REFIT", "false"))).model.trees.refit is False
    assert load_spec(write(tmp_path, text.replace(", refit_trees: REFIT", ""))).model.trees.refit is True
    with pytest.raises(SpecError, match="'refit_trees' must be bool"):
        load_spec(write(tmp_path, text.replace("REFIT", "sometimes")))
