"""Readers for the three GroupLens layouts, on small hand-written files."""

import pyarrow as pa
import pytest

from stage_contracts.errors import InputError
from beam_jobs.layouts import detect_movielens
from retraining.span_stats import read_span
from features.spec import load_spec

SPEC = load_spec("movielens")


def read_folder(folder):
    """Detect the layout, parse every chunk (16-byte chunks, to cross chunk edges), join movies."""
    span = read_span(SPEC, str(folder), chunk_bytes=16)
    return span.layout, span.rows.to_pylist(), span.rejected_rows


def test_ml_latest_csv_with_quoted_comma_title(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,2,0.5,964982224\n")
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n'
        '2,"Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)",Action|Adventure|Western\n'
        "3,Amélie (Fabuleux destin d'Amélie Poulain; Le) (2001),(no genres listed)\n", encoding="utf-8")
    name, rows, rejected = read_folder(tmp_path)
    assert name == "ml-latest" and not rejected
    by_movie = {r["movieId"]: r for r in rows}
    assert by_movie[2]["title"] == "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)"
    assert by_movie[2]["genres"] == "Action|Adventure|Western" and by_movie[2]["rating"] == 0.5
    assert by_movie[3]["title"].startswith("Amélie")
    assert [r["userId"] for r in rows] == [1, 1, 2]


def test_ml_1m_double_colon_latin1(tmp_path):
    (tmp_path / "ratings.dat").write_bytes(b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Caf\xe9 au lait (1994)::Comedy|Drama\n"
        .encode("latin-1"))
    name, rows, rejected = read_folder(tmp_path)
    assert name == "ml-1m" and not rejected
    titles = {r["movieId"]: r["title"] for r in rows}
    assert titles[661] == "Café au lait (1994)"
    assert sorted((r["userId"], r["movieId"], r["rating"]) for r in rows) == [
        (1, 661, 3.0), (1, 1193, 5.0), (2, 1193, 4.0)]


def test_ml_100k_tabs_pipes_and_genre_flags(tmp_path):
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    flags_242 = "|".join(["0", "0", "0", "0", "0", "1"] + ["0"] * 13)  # Comedy
    flags_302 = "|".join(["0"] * 6 + ["1", "0", "0", "0", "1"] + ["0"] * 5 + ["1", "0", "0"])  # Crime, Film-Noir, Thriller
    (tmp_path / "u.item").write_bytes(
        (f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|{flags_242}\n"
         f"302|L\xe9on (1994)|01-Jan-1997||http://x|{flags_302}\n").encode("latin-1"))
    name, rows, rejected = read_folder(tmp_path)
    assert name == "ml-100k" and not rejected
    by_movie = {r["movieId"]: r for r in rows}
    assert by_movie[242]["genres"] == "Comedy"
    assert by_movie[302]["genres"] == "Crime|Film-Noir|Thriller"
    assert by_movie[302]["title"] == "Léon (1994)"


def test_bad_rows_are_set_aside_with_line_and_reason(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,1\nx,1,3,4\n2,1,nan,5\n3,1,9.0,6\n4,99,4.0,7\n5,1,3.5,8\n")
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n")
    _, rows, rejected = read_folder(tmp_path)
    assert [r["userId"] for r in rows] == [1, 5]
    got = sorted((r["line"], r["reason"]) for r in rejected)
    assert got == [(3, "wrong_field_count"), (4, "unparsable_number"), (5, "not_finite"), (6, "out_of_range"),
                   (7, "unknown_join_key")]
    assert next(r for r in rejected if r["line"] == 4)["raw"] == "x,1,3,4"


def test_folder_that_is_not_movielens_is_named(tmp_path):
    (tmp_path / "data.txt").write_text("hello")
    with pytest.raises(InputError, match=str(tmp_path)):
        detect_movielens(str(tmp_path))


def test_typed_rows_from_bigquery_are_validated_like_files():
    import apache_beam as beam

    from beam_jobs.preprocess import ValidateRows

    rows = [{"userId": 1, "movieId": 2, "rating": 4.0, "timestamp": 10},
            {"userId": None, "movieId": 2, "rating": 4.0, "timestamp": 11},
            {"userId": 3, "movieId": 2, "rating": 7.5, "timestamp": 12}]
    outputs = list(ValidateRows(SPEC).process(("p:d.t", pa.Table.from_pylist(rows))))
    tagged = [o for o in outputs if isinstance(o, beam.pvalue.TaggedOutput)]
    kept = [o for o in outputs if not isinstance(o, beam.pvalue.TaggedOutput)]
    assert kept[0][1].column("userId").to_pylist() == [1]
    reasons = sorted(o.value["reason"] for o in tagged if o.tag == "rejected")
    assert reasons == ["missing_value", "out_of_range"]
    assert ("read", 3) in [o.value for o in tagged if o.tag == "stats"]
