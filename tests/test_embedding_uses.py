"""What users came for: similar items, recommendations for one and for every user, pictures, features."""

import json
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import tensorflow as tf
import pyarrow.parquet as pq
import pytest
from PIL import Image

from beam_jobs import recommend_all
from beam_jobs.config import RecommendAllConfig
from embedflow import cli
from stage_contracts.errors import UserError
from conftest import read_planted_groups
from stage_contracts.model_dir import resolve_version
from embedding_uses.neighbours import SIMILAR_POPULARITY_WEIGHT, neighbour_label_share
from embedding_uses.recommend import EmbeddingIndex
from embedding_uses.visualize import draw_map, write_projector
from trainer import embeddings


@pytest.fixture(scope="module")
def index(trained):
    return EmbeddingIndex(resolve_version(os.path.dirname(trained.version_dir)))


def test_similar_items_share_the_planted_group(index, ratings_sample):
    planted = read_planted_groups(ratings_sample)
    groups = np.array([planted[i] for i in index.item_ids])
    shares = [np.mean([groups[j] == groups[i] for j, _ in index.similar(i, 10)]) for i in range(len(groups))]
    share, chance = neighbour_label_share(index.neighbours(10)[0], groups)
    assert np.mean(shares) == pytest.approx(share) and share > 0.8 and share > 4 * chance, (share, chance)


def test_similar_neighbours_are_co_rated_on_another_day_far_more_than_random_items(index, tmp_path):
    """Co-rating lift@10 (bench/similar.py's measure) judged on a second day of ratings from the same world, which
    training never saw: of the users who rated a query movie that day, how many also rated its neighbours, against
    a random movie (lift 1)."""
    from embedflow.sample_tables import RatingsSample, write_ratings_sample
    from conftest import SAMPLE
    from trainer.references import CoRating, RatingArrays

    write_ratings_sample(str(tmp_path), RatingsSample(**SAMPLE, ratings_seed=99))
    day = pacsv.read_csv(tmp_path / "ratings.csv")
    position = {item: i for i, item in enumerate(index.item_ids)}
    items = np.array([position.get(str(m), -1) for m in day.column("movieId").to_pylist()])
    _, users = np.unique(day.column("userId").to_numpy(), return_inverse=True)
    held = RatingArrays(users[items >= 0], items[items >= 0], np.ones(int((items >= 0).sum())), int(users.max()) + 1,
                        len(index.item_ids))
    queries = np.flatnonzero(index.item_count >= 20)
    lift = CoRating(held, len(index.item_ids), queries).lift(index.neighbours(10, queries)[0])
    assert lift > 1.5, lift  # measured 1.89 on this small sample (6.5 on bench/similar.py's)


def test_similar_projector_and_map_read_the_same_centred_vectors(index, tmp_path, monkeypatch):
    """`similar` compares, the projector writes and the map projects one set of vectors: the item vectors less
    their mean (the part every item shares says nothing about taste)."""
    from embedding_uses import visualize

    vectors = index.similarity_vectors
    np.testing.assert_allclose(vectors, index.items - index.items.mean(axis=0), atol=1e-5)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ unit[5] + SIMILAR_POPULARITY_WEIGHT * np.log1p(index.item_count)
    scores[5] = -np.inf
    assert [i for i, _ in index.similar(5, 10)] == np.argsort(-scores, kind="stable")[:10].tolist()

    write_projector(index, str(tmp_path / "projector"), max_points=len(index.item_ids))
    written = np.loadtxt(tmp_path / "projector" / "items" / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(written, vectors, rtol=1e-4, atol=1e-5)

    mapped = []
    monkeypatch.setattr(visualize, "pca_2d", lambda v: mapped.append(v) or v[:, :2])
    draw_map(index, str(tmp_path / "map.png"))
    np.testing.assert_array_equal(mapped[0], vectors[visualize._most_active(index.item_count, 20_000)])  # noqa: SLF001


def test_title_lookup_is_forgiving_and_suggests(index):
    titles = index.item_meta["title"]
    first = titles[0]
    assert index.find_item(first.upper()) == 0
    assert index.find_item(index.item_ids[3]) == 3
    with pytest.raises(UserError, match="titles match"):
        index.find_item("the")  # many titles hold "The"
    with pytest.raises(UserError, match="Did you mean"):
        index.find_item(first[:-8] + "x (1999)")


def test_a_number_is_an_id_never_a_title(index, capsys):
    """`similar 2143` with no item 2143 is an error naming the id, not the neighbours of a title holding "2143"."""
    ids = set(index.item_ids)
    number, title = next((n, t) for t in index.item_meta["title"] for n in re.findall(r"#(\d+)", t) if n not in ids)
    with pytest.raises(UserError, match=f"No item with id '{number}'.*--title"):
        index.find_item(number)
    assert cli.main(["similar", number, "--model", index.version_dir]) == 2
    assert "add --title" in capsys.readouterr().err
    assert index.find_item(f"#{number} (", title=True) == index.item_meta["title"].index(title)
    assert cli.main(["similar", title, "--title", "--model", index.version_dir, "-k", "2"]) == 0
    assert capsys.readouterr().out.startswith(f"Most similar to [{index.item_ids[index.item_meta['title'].index(title)]}]")


def test_model_beats_popularity_on_recall(trained):
    ranking = trained.metrics["ranking"]
    assert ranking["model"]["recall@10"] > ranking["popularity"]["recall@10"], ranking
    assert ranking["model"]["ndcg@10"] > ranking["popularity"]["ndcg@10"]
    assert ranking["users"] > 100
    # EASE, the reference metrics.json reports on small catalogues, finds the planted tastes too
    assert ranking["ease"]["recall@10"] > ranking["popularity"]["recall@10"] and ranking["ease"]["l2"] > 0, ranking


def test_recommend_excludes_rated_items(index):
    user = index.user_ids[5]
    recs = index.recommend(user, 10)
    position = index.user_position(user)
    rated = set(index.rated_indices[index.rated_indptr[position]:index.rated_indptr[position + 1]].tolist())
    assert len(recs) == 10 and not rated & set(recs.items.tolist())
    assert np.all((0.0 < recs.rating) & (recs.rating < 6.5)) and np.all(np.diff(recs.score) <= 1e-5)


def test_a_new_user_is_served_from_their_history_in_their_planted_taste(index, ratings_sample, tmp_path, capsys):
    """A user arriving with the first 12 ratings they gave (served by their history, not their id) gets lists in
    the two planted groups they like."""
    planted = read_planted_groups(ratings_sample)
    group_of = np.array([planted[i] for i in index.item_ids])
    ratings = pacsv.read_csv(os.path.join(ratings_sample, "ratings.csv")).to_pandas().sort_values(["userId", "timestamp"])
    liked = pacsv.read_csv(os.path.join(ratings_sample, "planted_user_groups.csv")).to_pandas().set_index("userId")
    shares = []
    for user, rows in list(ratings.groupby("userId"))[:40]:
        history = rows.movieId.astype(str).tolist()[:12]
        recs = index.recommend_for_history(history + ["no-such-movie"], 10)
        assert len(recs) == 10 and not {index.item_position(i) for i in history} & set(recs.items.tolist())
        shares.append(np.mean([group_of[i] in set(liked.loc[user]) for i in recs.items]))
    # chance: 2/6; measured 0.435, 0.478 and 0.438 with training seeds 3, 4 and 5 (the same users known by id: 0.79,
    # 0.83, 0.68).  The calibrated sample plants weaker group tastes (exposure e^1.5, was e^1.85: real ratings rank
    # methods so), and a newcomer's first 12 ratings are mostly popular titles: on the earlier sample 0.51-0.62.
    assert np.mean(shares) >= 0.40, shares
    history_file = tmp_path / "my_ratings.csv"
    history_file.write_text("userId,movieId,rating\n0," + "\n0,".join(f"{i},4.5" for i in history) + "\n")
    assert cli.main(["recommend", "--model", index.version_dir, "--history", str(history_file), "-k", "3"]) == 0
    assert "new user with 12 rated item(s)" in capsys.readouterr().out
    assert cli.main(["recommend", "--model", index.version_dir, "--history", "nope,nada"]) == 2
    assert "None of the 2 history item id(s)" in capsys.readouterr().err
    assert cli.main(["recommend", "--model", index.version_dir, "--history", ",".join(history * 3), "-k", "3"]) == 0
    assert "new user with 12 rated item(s) (24 repeated id(s) counted once)" in " ".join(capsys.readouterr().out.split())
    signature = index._saved_model.signatures["user_vector"]  # read as a training history: distinct, at most 100
    once = signature(item_ids=tf.constant(history))
    repeated = signature(item_ids=tf.constant(history * 50 + ["no-such-movie"]))
    assert int(repeated["known_items"]) == 12 and np.allclose(once["user_vector"], repeated["user_vector"], atol=1e-5)
    assert int(signature(item_ids=tf.constant(index.item_ids[:150]))["known_items"]) == min(100, len(index.item_ids))


def test_recommend_prints_the_score_it_ranks_by_and_its_parts(index, capsys):
    from embedding_uses.ranking_score import RankingWeights
    from embedding_uses.recommend import print_recommendations

    weights = RankingWeights(popularity=0.5, rating=0.5)
    print_recommendations(index, index.user_ids[5], 5, weights)
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    score, model, rating, popularity = (np.array([float(r[i]) for r in rows]) for i in (1, 2, 3, 4))
    inside = (rating > index.label_range[0]) & (rating < index.label_range[1])  # a clipped rating adds its unclipped
    np.testing.assert_allclose(score[inside], (model + 0.5 * rating + popularity)[inside], atol=4.5e-3)  # printed rounding
    assert len(rows) == 5 and np.all(np.diff(score) <= 1e-3) and np.all(popularity > 0)
    assert [r[5] for r in rows] == [f"[{index.item_ids[i]}]" for i in index.recommend(index.user_ids[5], 5, weights).items]


def test_recommend_all_writes_k_unrated_rows_per_user_agreeing_with_recommend(trained, index, tmp_path):
    out = str(tmp_path / "recs")
    recommend_all.run(RecommendAllConfig(model=os.path.dirname(trained.version_dir), output=out, k=7, block_size=300,
                                         csv=True))
    assert os.path.exists(os.path.join(out, "_SUCCESS"))
    table = pq.ParquetDataset([os.path.join(out, f) for f in os.listdir(out) if f.endswith(".parquet")]).read()
    assert table.schema.field("user_id").type == pa.int64() and table.schema.field("item_id").type == pa.int64()
    table = table.cast(table.schema.set(0, pa.field("user_id", pa.string())).set(2, pa.field("item_id", pa.string())))
    rows = table.to_pydict()
    per_user = {}
    for user, rank, item in zip(rows["user_id"], rows["rank"], rows["item_id"]):
        per_user.setdefault(user, []).append((rank, item))
    assert set(per_user) == set(index.user_ids)
    assert all(len(v) == 7 and sorted(r for r, _ in v) == list(range(1, 8)) for v in per_user.values())
    item_position = {v: i for i, v in enumerate(index.item_ids)}
    for user, recs in per_user.items():
        p = index.user_position(user)
        rated = set(index.rated_indices[index.rated_indptr[p]:index.rated_indptr[p + 1]].tolist())
        assert not rated & {item_position[i] for _, i in recs}, user
    scores = dict(zip(zip(rows["user_id"], rows["item_id"]), rows["score"]))
    for user in index.user_ids[::97]:
        expected = index.recommend(user, 7)
        assert [i for _, i in sorted(per_user[user])] == [index.item_ids[i] for i in expected.items]
        # `score` is one number in every output: the Parquet's is the table's and the API's
        np.testing.assert_allclose([scores[user, index.item_ids[i]] for i in expected.items], expected.score, rtol=1e-5)
    title_of = dict(zip(index.item_ids, index.item_meta["title"]))
    assert rows["title"] == [title_of[item] for item in rows["item_id"]]
    csv_files = [f for f in os.listdir(out) if f.endswith(".csv")]
    with open(os.path.join(out, csv_files[0])) as f:
        assert f.readline().startswith("user_id,rank,item_id,score,predicted_rating")
        assert f.readline().split(",")[0].isdigit()  # ids unquoted, as in the source CSV
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert summary["spec"] == "movielens" and summary["embedflow_version"] and summary["input"]


def test_projector_files_read_back_by_tensorboard(index, tmp_path):
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector import projector_plugin

    out = str(tmp_path / "projector")
    write_projector(index, out, max_points=300)
    context = base_plugin.TBContext(logdir=out, multiplexer=plugin_event_multiplexer.EventMultiplexer())
    plugin = projector_plugin.ProjectorPlugin(context)
    configs, _ = plugin._read_latest_config_files([(".", out)])  # noqa: SLF001 - the plugin's own reader
    config = configs["."]
    assert [e.tensor_name for e in config.embeddings] == ["items", "users"]
    for embedding in config.embeddings:
        tensor = projector_plugin._read_tensor_tsv_file(os.path.join(out, embedding.tensor_path))  # noqa: SLF001
        with open(os.path.join(out, embedding.metadata_path)) as f:
            lines = f.read().splitlines()
        header = 1 if embedding.tensor_name == "items" else 0
        assert tensor.shape == (len(lines) - header, index.items.shape[1]) and tensor.shape[0] == 300
    with open(os.path.join(out, "items", "metadata.tsv")) as f:
        assert f.readline().rstrip("\n").split("\t") == ["movieId", "title", "genres"]


def test_map_is_a_valid_png(index, tmp_path):
    path = draw_map(index, str(tmp_path / "map.png"))
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 400


def test_the_tsne_map_places_the_planted_groups_apart_and_is_the_same_for_the_same_seed(index, ratings_sample,
                                                                                        tmp_path):
    """On the 2-D map, an item's 10 nearest dots share its planted taste group far more often than chance, and more
    than on the PCA map; a second run with the seed draws the same coordinates; `--method pca,tsne` draws both."""
    from embedflow.commands.embeddings import MAP_METHODS as CLI_METHODS
    from embedding_uses.neighbours import neighbour_label_share
    from embedding_uses.visualize import MAP_METHODS, neighbours_kept, pca_2d, tsne_2d

    assert set(CLI_METHODS) == set(MAP_METHODS)
    planted = read_planted_groups(ratings_sample)
    groups = np.array([planted[i] for i in index.item_ids])
    vectors = index.similarity_vectors
    tsne = tsne_2d(vectors, seed=0)
    np.testing.assert_array_equal(tsne, tsne_2d(vectors, seed=0))

    def share_on_the_map(xy):
        distances = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(distances, np.inf)
        return neighbour_label_share(np.argsort(distances, axis=1)[:, :10], groups)

    share, chance = share_on_the_map(tsne)
    pca = pca_2d(vectors)
    pca_share, _ = share_on_the_map(pca)
    assert share > 4 * chance and share > pca_share, (share, pca_share, chance)
    # the figure the map's title and log line give: t-SNE keeps more of each item's cosine neighbours than PCA
    assert neighbours_kept(vectors, tsne) > neighbours_kept(vectors, pca) > 10 / len(vectors)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert neighbours_kept(vectors, unit) == 1.0  # a "map" that is the space itself (by cosine) keeps them all

    out = str(tmp_path / "both.png")
    assert cli.main(["map", "--model", index.version_dir, "--output", out, "--method", "pca,tsne", "--seed", "3"]) == 0
    with Image.open(out) as image:
        assert image.size[0] > 1.8 * image.size[1]  # two panels side by side


def test_tsne_without_its_package_is_one_line_naming_the_extra(monkeypatch):
    import sys

    from embedding_uses.visualize import tsne_2d

    monkeypatch.setitem(sys.modules, "openTSNE", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(UserError, match=r"pip install 'embedflow\[maps\]'"):
        tsne_2d(np.eye(12))


def test_a_map_method_that_is_not_known_is_a_flag_error(index, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["map", "--model", index.version_dir, "--output", str(tmp_path / "m.png"), "--method", "umap"])
    assert "--method" in capsys.readouterr().err


def test_embeddings_exported_as_parquet_features(trained, index):
    folder = os.path.join(trained.version_dir, "embeddings", "parquet")
    items = pq.read_table(os.path.join(folder, "items.parquet"))
    assert items.column_names[0] == "id" and items.num_columns == 1 + index.items.shape[1]
    assert items.schema.field("id").type == pa.int64()  # movieId is an int column in the source
    assert items.column("id").to_pylist() == [int(i) for i in index.item_ids]
    np.testing.assert_allclose(items.column("e0").to_numpy(), index.items[:, 0], rtol=1e-6)
    assert pq.read_schema(os.path.join(folder, "users.parquet")).field("id").type == pa.int64()
    table = pq.read_table(os.path.join(folder, "movie_id.parquet"))
    assert table.num_rows == len(index.item_ids) + 1  # the vocabulary plus one OOV bucket
    assert table.schema.field("id").type == pa.int64() and table.column("id").null_count == 1  # the OOV row
    genres = pq.read_table(os.path.join(folder, "genres.parquet"))
    assert genres.schema.field("id").type == pa.string() and genres.column("id").to_pylist()[-1].startswith("<oov-")


def test_embedding_files_written_a_piece_at_a_time_read_back_whole(tmp_path, monkeypatch):
    """The writers stream (no whole-file copy): a file of many pieces holds every row, in order."""
    monkeypatch.setattr(embeddings, "_WRITE_PIECE", 4096)
    vectors = np.random.default_rng(0).standard_normal((3000, 5))
    embeddings._save_parquet(str(tmp_path / "v.parquet"), pa.array(np.arange(3000)), vectors)
    embeddings._save_npy(str(tmp_path / "v.npy"), vectors)
    assert os.path.getsize(tmp_path / "v.parquet") > 10 * 4096
    table = pq.read_table(tmp_path / "v.parquet")
    assert table.column("id").to_pylist() == list(range(3000))
    np.testing.assert_array_equal(np.stack([table.column(f"e{d}").to_numpy() for d in range(5)], axis=1),
                                  vectors.astype(np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), vectors.astype(np.float32))


def test_a_map_of_fewer_items_than_neighbours_is_measured_on_the_items_there_are():
    """The report draws a map for any catalogue: with k items or fewer, each item's neighbours are all the others."""
    from embedding_uses.visualize import neighbours_kept

    vectors = np.random.default_rng(0).normal(size=(8, 4))
    assert neighbours_kept(vectors, vectors[:, :2]) == 1.0
    assert neighbours_kept(vectors[:1], vectors[:1, :2]) == 1.0
    assert neighbours_kept(vectors, vectors[:, :2], k=3) < 1.0  # a 2-D shadow of 4-D points loses some
