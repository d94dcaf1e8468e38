"""The exported SavedModel on raw inputs, in a fresh process that imports only TensorFlow."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

LOADER = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    request = json.loads(sys.argv[2])
    model = tf.saved_model.load(sys.argv[1])
    predict = model.signatures["predict"]
    out = predict(userId=tf.constant(request["userId"], tf.int64), movieId=tf.constant(request["movieId"], tf.int64))
    examples = []
    for u, m in zip(request["userId"], request["movieId"]):
        feature = {"userId": tf.train.Feature(int64_list=tf.train.Int64List(value=[u])),
                   "movieId": tf.train.Feature(int64_list=tf.train.Int64List(value=[m]))}
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    served = model.signatures["serving_default"](examples=tf.constant(examples))
    mods = sorted(m for m in sys.modules if m.split(".")[0] in ("beam_jobs", "trainer", "apache_beam", "tensorflow_transform", "embedflow",
                                                                 "embedding_uses", "retraining"))
    print(json.dumps({"predict": out["prediction"].numpy().tolist(),
                      "serving_default": served["prediction"].numpy().tolist(), "project_modules": mods}))
""")


def in_process_predictions(trained, users, movies, side_table):
    """The trained Keras model on the TFT transform of the same raw rows, without the serving module."""
    titles = dict(zip(side_table.column("movieId").to_pylist(), side_table.column("title").to_pylist()))
    genres = dict(zip(side_table.column("movieId").to_pylist(), side_table.column("genres").to_pylist()))
    raw = {
        "userId": tf.constant(users, tf.int64), "movieId": tf.constant(movies, tf.int64),
        "title": tf.constant([titles.get(m, "") for m in movies]),
        "genres": tf.sparse.from_dense(tf.constant([[genres.get(m) or ""] for m in movies])),
        "rating": tf.zeros([len(users)], tf.float32),
    }
    transformed = trained.tft_output.transform_raw_features(raw)
    transformed.pop("rating")
    return trained.model(transformed, training=False).numpy()


def test_fresh_process_matches_in_process_model(trained, preprocessed):
    from trainer.task import read_side_table

    side_table = read_side_table(preprocessed[0], preprocessed[1])
    movies_known = side_table.column("movieId").to_pylist()[:5]
    users = [1, 2, 3, 4, 5, 987654321]  # the last user was never seen
    movies = movies_known + [movies_known[0]]
    users, movies = users + [1], movies + [123456789]  # and a movie never seen
    expected = in_process_predictions(trained, users, movies, side_table)
    result = subprocess.run(
        [sys.executable, "-c", LOADER, trained.version_dir, json.dumps({"userId": users, "movieId": movies})],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["project_modules"] == []
    np.testing.assert_allclose(got["predict"], expected, atol=1e-5)
    np.testing.assert_allclose(got["serving_default"], expected, atol=1e-5)
    assert all(np.isfinite(got["predict"])) and 0.0 < got["predict"][5] < 6.0


def test_request_missing_a_feature_gets_an_error_naming_it(trained):
    model = tf.saved_model.load(trained.version_dir)
    feature = {"userId": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}
    example = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    try:
        model.signatures["serving_default"](examples=tf.constant([example]))
    except tf.errors.InvalidArgumentError as e:
        assert "movieId" in str(e) and "required" in str(e)
    else:
        raise AssertionError("a request without movieId was accepted")


def test_request_with_columns_of_different_lengths_is_an_error_not_a_broadcast(trained):
    predict = tf.saved_model.load(trained.version_dir).signatures["predict"]
    try:
        predict(userId=tf.constant([1, 2, 3], tf.int64), movieId=tf.constant([3], tf.int64))
    except tf.errors.InvalidArgumentError as e:
        assert "differ in length" in str(e)
    else:
        raise AssertionError("three users and one movie were answered")


def test_malformed_requests_get_an_error_or_a_prediction_per_row_never_a_crash(trained):
    """Seeded fuzz of `predict` requests: lengths, dtypes, shapes, extreme ids."""
    predict = tf.saved_model.load(trained.version_dir).signatures["predict"]
    rng = np.random.default_rng(0)
    refused = answered = 0
    for attempt in range(60):
        sizes = rng.integers(0, 5, size=2) if attempt else np.array([3, 3])
        columns = {}
        for name, size in zip(("userId", "movieId"), sizes):
            kind = rng.integers(0, 5) if attempt else 0  # the first request is well formed, with extreme ids
            values = rng.choice([0, 1, -1, 2**63 - 1, -2**63, 7, 123456789], size=size)
            if kind == 0:
                columns[name] = tf.constant(values, tf.int64)
            elif kind == 1:
                columns[name] = tf.constant(values.astype(np.float64))  # wrong dtype
            elif kind == 2:
                columns[name] = tf.constant(values.reshape(-1, 1), tf.int64)  # wrong rank
            elif kind == 3:
                columns[name] = tf.constant([str(v) for v in values], tf.string)  # wrong dtype
            else:
                columns[name] = tf.constant(values, tf.int32)
        try:
            out = predict(**columns)["prediction"].numpy()
        except (tf.errors.InvalidArgumentError, TypeError, ValueError):
            refused += 1
            continue
        answered += 1
        assert sizes[0] == sizes[1] and out.shape == (sizes[0],) and np.all(np.isfinite(out)), (columns, out)
    assert refused and answered
