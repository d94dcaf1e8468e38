"""Each composite of the preprocess job alone, on a few rows: TestPipeline + assert_that on its named outputs."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_jobs.layouts import table_layout
from beam_jobs.preprocess import ReadAndValidate
from features.spec import load_spec

RATINGS = ("userId,movieId,rating,timestamp\n"
           "1,10,4.0,100\n"
           "1,10,5.0,200\n"       # a later rating of the same movie: the earlier one is a duplicate
           "2,20,3.5,100\n"
           "2,99,3.0,100\n"       # movie 99 is not in movies.csv
           "3,10,4.5\n"           # a field short
           "3,20,2.0,100\n")
MOVIES = ("movieId,title,genres\n"
          "10,Heat (1995),Action|Crime\n"
          "20,Clueless (1995),Comedy\n"
          "30,Broken line\n")     # a field short


def test_read_and_validate_names_its_outputs_and_accounts_for_every_row(tmp_path):
    (tmp_path / "ratings.csv").write_text(RATINGS)
    (tmp_path / "movies.csv").write_text(MOVIES)
    spec = load_spec("movielens")
    with TestPipeline() as p:
        read = p | ReadAndValidate(spec, table_layout(spec, str(tmp_path)), chunk_bytes=1 << 20)
        assert set(read) == {"rows", "rejected", "counts", "side_table", "side_rejected"}
        kept = (read["rows"]
                | beam.FlatMap(lambda source_batch: zip(source_batch[1].column("userId").to_pylist(),
                                                        source_batch[1].column("movieId").to_pylist(),
                                                        source_batch[1].column("rating").to_pylist(),
                                                        source_batch[1].column("title").to_pylist())))
        assert_that(kept, equal_to([(1, 10, 5.0, "Heat (1995)"), (2, 20, 3.5, "Clueless (1995)"),
                                    (3, 20, 2.0, "Clueless (1995)")]), label="KeptRows")
        reasons = read["rejected"] | beam.Map(lambda r: (r["reason"], r["line"]))
        assert_that(reasons, equal_to([("duplicate_key", 2), ("unknown_join_key", 5), ("wrong_field_count", 6)]),
                    label="RejectedReasons")
        counts = read["counts"] | "SumCounts" >> beam.CombinePerKey(sum)
        assert_that(counts, equal_to([("read", 6), ("side_table_rejected", 1)]), label="Counts")
        side = read["side_rejected"] | beam.Map(lambda r: (r["reason"], r["line"]))
        assert_that(side, equal_to([("wrong_field_count", 4)]), label="SideRejected")
        titles = read["side_table"] | beam.Map(lambda t: sorted(t.column("title").to_pylist()))
        assert_that(titles, equal_to([["Clueless (1995)", "Heat (1995)"]]), label="SideTable")
