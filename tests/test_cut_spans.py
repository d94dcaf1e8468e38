"""`embedflow cut-spans`: one ratings file with timestamps becomes retrain's daily span folders."""

import os

import pyarrow.csv as pacsv
import pytest

from retraining.span_stats import read_span
from embedflow import cli
from retraining.cut_spans import CutSpansConfig, cut_spans
from stage_contracts.errors import UserError
from features.spec import load_spec

DAY_ONE = 1_793_318_400  # 2026-10-30 00:00:00 UTC


def write_ratings(path, ratings_sample, seconds: list[int]) -> list[str]:
    """The sample's first len(seconds) ratings with these timestamps; returns their lines as written."""
    table = pacsv.read_csv(os.path.join(ratings_sample, "ratings.csv"))
    lines = open(os.path.join(ratings_sample, "ratings.csv")).read().splitlines()[1:len(seconds) + 1]
    rows = [",".join(line.split(",")[:3] + [str(s)]) for line, s in zip(lines, seconds)]
    with open(path, "w") as f:
        f.write(",".join(table.column_names) + "\n" + "\n".join(rows) + "\n")
    return rows


def span_rows(folder: str) -> list[str]:
    return open(os.path.join(folder, "ratings.csv")).read().splitlines()[1:]


def test_a_ratings_file_is_cut_into_one_span_per_utc_day_that_retrain_reads(ratings_sample, tmp_path, capsys):
    # two days, a row on each side of midnight, rows of a day far apart in the file
    seconds = [DAY_ONE + 10, DAY_ONE + 86_399, DAY_ONE + 86_400, DAY_ONE + 5, DAY_ONE + 2 * 86_400 - 1] * 400
    rows = write_ratings(tmp_path / "ratings.csv", ratings_sample, seconds)
    root = tmp_path / "spans"
    movies = os.path.join(ratings_sample, "movies.csv")
    assert cli.main(["cut-spans", "--input", str(tmp_path / "ratings.csv"), "--output", str(root),
                     "--copy", movies]) == 0
    assert "Wrote 2 span(s)" in capsys.readouterr().out
    assert sorted(os.listdir(root)) == ["2026-10-30", "2026-10-31"]
    first, second = (span_rows(root / day) for day in ("2026-10-30", "2026-10-31"))
    assert first == [r for r, s in zip(rows, seconds) if s < DAY_ONE + 86_400]  # in the file's order, unchanged
    assert second == [r for r, s in zip(rows, seconds) if s >= DAY_ONE + 86_400]
    assert open(root / "2026-10-31" / "movies.csv").read() == open(movies).read()
    span = read_span(load_spec("movielens"), str(root / "2026-10-30"))  # retrain's own reader of a span
    assert span.rows.num_rows == len(first) and span.rejected == 0


def test_cutting_again_adds_only_new_days_and_through_holds_back_the_rest(ratings_sample, tmp_path):
    seconds = [DAY_ONE + 60 * i for i in range(50)]
    write_ratings(tmp_path / "ratings.csv", ratings_sample, seconds)
    root = str(tmp_path / "spans")
    config = CutSpansConfig(input=str(tmp_path / "ratings.csv"), output=root)
    assert cut_spans(config).written == {"2026-10-30": 50}
    before = span_rows(os.path.join(root, "2026-10-30"))

    # the file grew: a late row for a day already cut, a new day, and today's rows still arriving
    seconds += [DAY_ONE + 100, DAY_ONE + 86_400 + 7, DAY_ONE + 2 * 86_400 + 9]
    write_ratings(tmp_path / "ratings.csv", ratings_sample, seconds)
    os.makedirs(os.path.join(root, ".cutting-2026-10-31"))  # what a killed cut left: replaced
    result = cut_spans(CutSpansConfig(input=str(tmp_path / "ratings.csv"), output=root, through="2026-10-31"))
    assert result.written == {"2026-10-31": 1}
    assert (result.rows_in_existing_spans, result.rows_after_through) == (51, 1)
    assert span_rows(os.path.join(root, "2026-10-30")) == before  # a used span is never rewritten
    assert sorted(os.listdir(root)) == ["2026-10-30", "2026-10-31"]


def test_a_file_without_the_timestamp_or_with_a_bad_one_is_an_error_naming_it(ratings_sample, tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,time\n1,2,4.0,1793318400\n")
    with pytest.raises(UserError, match="no column 'timestamp'.*userId, movieId, rating, time"):
        cut_spans(CutSpansConfig(input=str(path), output=str(tmp_path / "spans")))
    path.write_text("userId,movieId,rating,timestamp\n1,2,4.0,1793318400\n1,3,4.0,yesterday\n")
    with pytest.raises(UserError, match="ratings.csv.*yesterday"):
        cut_spans(CutSpansConfig(input=str(path), output=str(tmp_path / "spans")))
    with pytest.raises(UserError, match="through"):
        CutSpansConfig(input=str(path), output=str(tmp_path / "spans"), through="31/10/2026")
