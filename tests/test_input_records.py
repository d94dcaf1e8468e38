"""What a record is, and single bad rows that once crashed the job or were miscounted.

Each case of the bad-input report is here: rows that crashed the reader
(undecodable bytes in a row with the wrong field count, binary junk, ids
too large for 64 bits), rows counted twice (a lone CR, blank lines),
rejected rows pointing at the wrong line (after a quoted newline), and the
rename hint naming the wrong column.  Files are read with 16-byte chunks so
that chunk edges fall everywhere.
"""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from stage_contracts.errors import InputError
from retraining.span_stats import read_span
from features.spec import load_spec

SPEC = load_spec("movielens")
HEADER = b"userId,movieId,rating,timestamp\n"
MOVIES = b'movieId,title,genres\n1,Toy Story (1995),Animation\n2,"Heat, (1995)",Action\n'


def read(tmp_path, ratings: bytes, movies: bytes = MOVIES, chunk_bytes: int = 16):
    (tmp_path / "ratings.csv").write_bytes(ratings)
    (tmp_path / "movies.csv").write_bytes(movies)
    span = read_span(SPEC, str(tmp_path), chunk_bytes=chunk_bytes)
    return span.rows.to_pylist(), sorted(span.rejected_rows, key=lambda r: r["line"])


def csv_records(data: bytes) -> int:
    """Records Python's csv module finds (newline=''), blank lines left out, header included."""
    return sum(1 for row in csv.reader(io.StringIO(data.decode("latin-1"), newline="")) if row)


def test_wrong_field_count_with_latin1_bytes_is_rejected_not_a_crash(tmp_path):
    rows, rejected = read(tmp_path, HEADER + b"1,1,4.0,5\n2,caf\xe9,1\n3,2,3.5,6\n")
    assert [r["userId"] for r in rows] == [1, 3]
    assert [(r["line"], r["reason"], r["raw"]) for r in rejected] == [(3, "wrong_field_count", "2,caf\ufffd,1")]


def test_binary_junk_after_the_header_is_rejected_row_by_row(tmp_path):
    junk = bytes(range(256)) * 3
    data = HEADER + junk + b"\n1,1,4.0,5\n"
    rows, rejected = read(tmp_path, data)
    assert [r["userId"] for r in rows] == [1]
    assert len(rows) + len(rejected) == csv_records(data) - 1
    assert all(r["raw"] and r["reason"] in ("wrong_field_count", "unparsable_number") for r in rejected)


@pytest.mark.parametrize("value", [b"99999999999999999999", b"-9223372036854775809", b"9" * (1 << 20)])
def test_ids_beyond_64_bits_are_out_of_range(tmp_path, value):
    rows, rejected = read(tmp_path, HEADER + b"1,1,4.0,5\n" + value + b",1,4.0,5\n2,1,1.0,9223372036854775807\n",
                          chunk_bytes=1 << 16)
    assert [(r["userId"], r["timestamp"]) for r in rows] == [(1, 5), (2, 9223372036854775807)]
    assert [(r["line"], r["reason"]) for r in rejected] == [(3, "out_of_range")]
    assert "64-bit integer range" in rejected[0]["detail"] and len(rejected[0]["detail"]) < 300
    assert rejected[0]["raw"] == (value + b",1,4.0,5").decode()


def test_float_too_large_for_64_bits_is_out_of_range(tmp_path):
    rows, rejected = read(tmp_path, HEADER + b"1,1,1e999,5\n2,1,+4.5,6\n")
    assert [(r["userId"], r["rating"]) for r in rows] == [(2, 4.5)]
    assert rejected[0]["reason"] == "out_of_range" and "64-bit float" in rejected[0]["detail"]


def test_a_lone_cr_ends_a_line_and_each_part_is_its_own_record(tmp_path):
    data = HEADER + b"1,1,4.0,5\n2,1,\r3.0,6\n3,1,2.0,7\n"
    rows, rejected = read(tmp_path, data)
    assert [r["userId"] for r in rows] == [1, 3]  # the neighbours are kept once, and never rejected
    assert [(r["line"], r["raw"]) for r in rejected] == [(3, "2,1,"), (4, "3.0,6")]
    assert len(rows) + len(rejected) == csv_records(data) - 1


def test_old_mac_line_endings_are_lines(tmp_path):
    data = HEADER.replace(b"\n", b"\r") + b"1,1,4.0,5\r2,2,3.0,6\r"
    rows, rejected = read(tmp_path, data)
    assert [(r["userId"], r["title"]) for r in rows] == [(1, "Toy Story (1995)"), (2, "Heat, (1995)")]
    assert not rejected


def test_blank_lines_are_not_records(tmp_path):
    data = HEADER + b"\n1,1,4.0,5\n\r\n\n2,1,3.0,6\r\n\r3,1,2.0,7\n\n"
    rows, rejected = read(tmp_path, data)
    assert [r["userId"] for r in rows] == [1, 2, 3] and not rejected
    assert len(rows) == csv_records(data) - 1


def test_rejected_row_after_a_quoted_newline_names_its_own_line(tmp_path):
    movies = b'movieId,title,genres\n1,"Toy\nStory (1995)",Animation\nx,Heat (1995),Action\n2,"A\r\n""B""",Drama\n'
    (tmp_path / "ratings.csv").write_bytes(HEADER + b"1,1,4.0,5\n1,2,4.0,6\n")
    (tmp_path / "movies.csv").write_bytes(movies)
    from beam_jobs.join import read_side_table
    from beam_jobs.layouts import detect_movielens

    for chunked in (False, True):  # the side table is read whole; the same file as a main table is chunked
        if chunked:
            from beam_jobs.parse import parse_chunk, plan_chunks

            fmt = detect_movielens(str(tmp_path)).side_tables["movies"].table
            parts = [parse_chunk(c, fmt, (SPEC.column("movieId"), SPEC.column("title")))
                     for c in plan_chunks(fmt, chunk_bytes=8)]
            titles = [t for batch, _ in parts for t in batch.column("title").to_pylist()]
            rejected = [r for _, rows in parts for r in rows]
        else:
            table, rejected = read_side_table(detect_movielens(str(tmp_path)).side_tables["movies"],
                                              SPEC.column("movieId"), SPEC.joined_columns)
            titles = table.column("title").to_pylist()
        assert titles == ["Toy\nStory (1995)", 'A\r\n"B"']
        assert [(r["line"], r["raw"], r["reason"]) for r in rejected] == [
            (4, "x,Heat (1995),Action", "unparsable_number")]


def test_an_unclosed_quote_runs_to_the_end_of_the_file(tmp_path):
    data = HEADER + b'1,1,4.0,5\n2,"1,4.0,6\n3,1,2.0,7\n'
    rows, rejected = read(tmp_path, data)
    assert [r["userId"] for r in rows] == [1]
    assert [(r["line"], r["reason"], r["raw"]) for r in rejected] == [
        (3, "wrong_field_count", '2,"1,4.0,6\n3,1,2.0,7')]


def test_nul_bytes_and_bom_are_data_of_their_row(tmp_path):
    data = b"\xef\xbb\xbf" + HEADER + b"1,1,4.0,5\n2\x00,1,3.0,6\n\xef\xbb\xbf3,1,2.0,7\n"
    rows, rejected = read(tmp_path, data)
    assert [r["userId"] for r in rows] == [1]
    assert [(r["line"], r["reason"]) for r in rejected] == [(3, "unparsable_number"), (4, "unparsable_number")]


@pytest.mark.parametrize("content,named", [
    ("userId,movieId,rating,timestamp\n".encode("utf-16"), "UTF-16"),
    (b"\x00\x01\x02,\x00\n1,2\n", "NUL"),
    (b"1" * ((1 << 20) + 10), "does not end within"),
    (b"userId,movieId,rating,rating,timestamp\n1,1,4.0,4.0,5\n", "more than once"),
])
def test_whole_file_problems_are_input_errors(tmp_path, content, named):
    with pytest.raises(InputError, match=named):
        read(tmp_path, content)


def test_rename_hint_names_an_unread_column(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("source: {format: csv}\ncolumns:\n  total_rooms: {type: float}\n  total_bedrooms: {type: float}\n"
                    "features: [{name: r, source: total_rooms, transform: z_score}]\nlabel: {column: total_bedrooms}\n")
    (tmp_path / "t.csv").write_text("total_rooms,bedrooms\n1,2\n")
    with pytest.raises(InputError) as err:
        read_span(load_spec(str(spec)), str(tmp_path / "t.csv"))
    assert "'total_bedrooms' may have been renamed to 'bedrooms'" in str(err.value)


def test_header_false_reads_the_spec_columns_in_order(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("source: {format: csv, header: false}\ncolumns:\n  a: {type: int}\n  b: {type: float}\n"
                    "features: [{name: f, source: b, transform: z_score}]\nlabel: {column: a}\n")
    (tmp_path / "t.csv").write_text("1,2.5\n3,4.5\n")
    span = read_span(load_spec(str(spec)), str(tmp_path / "t.csv"))
    assert span.rows.to_pylist() == [{"a": 1, "b": 2.5}, {"a": 3, "b": 4.5}]


def test_preprocess_cli_on_every_reported_case_accounts_for_each_record(tmp_path):
    """The real command: exit 0, no traceback, read = csv's records = kept + rejected, rejected rows are theirs."""
    body = [b"%d,%d,%.1f,%d" % (u, 1 + u % 2, 0.5 + u % 10 / 2, 1000 + u) for u in range(1, 201)]
    bad = {20: b"7,caf\xe9,1", 40: b"99999999999999999999,1,4.0,5", 60: b"8,1,\r3.0,6", 80: b"",
           100: b'9,"1\n,2",4.0,5', 120: bytes(range(1, 200)), 140: b"1" * 5000 + b",1,4.0,5", 160: b"\r"}
    for at, line in sorted(bad.items(), reverse=True):
        body.insert(at, line)
    data = HEADER + b"\n".join(body) + b"\n"
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_bytes(data)
    (folder / "movies.csv").write_bytes(MOVIES)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "embedflow.cli", "preprocess", "--input", str(folder),
                           "--output", str(out), "--max-rejected-fraction", "1"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["read"] == csv_records(data) - 1
    assert counts["read"] == counts["kept"]["train"] + counts["kept"]["eval"] + counts["rejected"]["total"]
    rejected = [json.loads(line) for path in (out / "rejected").glob("rows-*.jsonl") for line in path.open()]
    lines = data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for r in rejected:
        if r["reason"] not in ("duplicate_key", "unknown_join_key"):  # those show the row's values
            first = lines[r["line"] - 1]
            assert r["raw"].split("\n")[0] == first.encode("latin-1").decode("utf-8", "replace"), r
    assert len({r["line"] for r in rejected}) == len(rejected)


def test_preprocess_cli_refuses_a_binary_file_with_exit_2(tmp_path):
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_bytes(bytes(range(256)) * 40)
    (folder / "movies.csv").write_bytes(MOVIES)
    proc = subprocess.run([sys.executable, "-m", "embedflow.cli", "preprocess", "--input", str(folder),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert os.path.join(str(folder), "ratings.csv") in proc.stderr.replace("\n  ", " ")
