"""Statistics of the splits in TFDV's format: the combiner's figures, the files the job writes, describe's table."""

import os

import numpy as np
import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from beam_jobs.statistics import CountCovered, SplitStatisticsFn
from beam_jobs.transform import to_tfxio_batch
from embedflow.describe_spec import describe_statistics
from stage_contracts import statistics as fs
from features.spec import load_spec


def housing_batch(rows: int, seed: int, bedrooms_missing_every: int) -> pa.RecordBatch:
    """A typed housing batch (as the job's parser makes) with every `bedrooms_missing_every`-th bedroom count empty."""
    rng = np.random.default_rng(seed)
    columns = {name: pa.array(rng.uniform(1, 100, rows)) for name in (
        "longitude", "latitude", "housing_median_age", "total_rooms", "population", "households", "median_income",
        "median_house_value")}
    bedrooms = rng.uniform(1, 10, rows)
    columns["total_bedrooms"] = pa.array(bedrooms, mask=np.arange(rows) % bedrooms_missing_every == 0)
    columns["ocean_proximity"] = pa.array(rng.choice(["INLAND", "NEAR BAY", "ISLAND"], rows, p=[0.7, 0.25, 0.05]))
    return pa.RecordBatch.from_pydict(columns)


def by_name(dataset: statistics_pb2.DatasetFeatureStatistics) -> dict:
    return {f.path.step[0]: f for f in dataset.features}


def test_combiner_figures_match_numpy_and_merge_like_one_pass():
    spec = load_spec("housing")
    typed = [housing_batch(3000, seed, 7) for seed in (1, 2)]
    fn = SplitStatisticsFn(spec, "train")
    parts = [fn.add_input(fn.create_accumulator(), to_tfxio_batch(b, spec)) for b in typed]
    stats = by_name(fn.extract_output(fn.merge_accumulators(parts)))

    income = np.concatenate([b.column("median_income").to_numpy() for b in typed])
    num = stats["median_income"].num_stats
    assert num.common_stats.num_non_missing == 6000 and num.common_stats.num_missing == 0
    assert num.mean == pytest.approx(income.mean(), rel=1e-6)
    assert num.std_dev == pytest.approx(income.std(), rel=1e-5)
    assert (num.min, num.max) == pytest.approx((income.min(), income.max()), rel=1e-6)
    assert num.median == pytest.approx(np.median(income), abs=2.0)  # quantile sketch: rank within 1% (of 99)
    quantiles = next(h for h in num.histograms if h.type == statistics_pb2.Histogram.QUANTILES)
    assert len(quantiles.buckets) == 10
    standard = next(h for h in num.histograms if h.type == statistics_pb2.Histogram.STANDARD)
    assert sum(b.sample_count for b in standard.buckets) == pytest.approx(6000)

    bedrooms = stats["total_bedrooms"].num_stats.common_stats
    assert bedrooms.num_missing == 2 * len(range(0, 3000, 7)) and bedrooms.num_non_missing == 6000 - bedrooms.num_missing

    ocean = stats["ocean_proximity"]
    assert ocean.type == statistics_pb2.FeatureNameStatistics.STRING
    assert ocean.string_stats.unique == 3
    top = ocean.string_stats.top_values[0]
    expected = sum(int(np.sum(b.column("ocean_proximity").to_numpy(zero_copy_only=False) == "INLAND")) for b in typed)
    assert (top.value, top.frequency) == ("INLAND", expected)


def test_coverage_counts_ids_below_the_vocabulary_size():
    batch = pa.RecordBatch.from_pydict({"user_id": pa.array([0, 1, 2, 3, 4]),
                                        "genres": pa.array([[0, 5], [], [1], [6, 6], [2]])})
    counts = dict(CountCovered(["user_id", "genres"]).process(batch, {"user_id": 3, "genres": 5}))
    assert counts["user_id"].tolist() == [3, 5]
    assert counts["genres"].tolist() == [3, 6]


def test_job_writes_statistics_tfdv_loads(preprocessed):
    out, manifest = preprocessed
    stats = fs.load_statistics(out)
    assert [d.name for d in stats.datasets] == ["train", "eval"]
    for dataset in stats.datasets:
        assert dataset.num_examples == manifest["counts"]["kept"][dataset.name]
        for feature in dataset.features:
            common = fs.common_statistics(feature)
            assert common.num_missing + common.num_non_missing == dataset.num_examples
    train = by_name(stats.datasets[0])
    # the mean the job computed on the side for the manifest, from the same rows
    assert train["rating"].num_stats.mean == pytest.approx(manifest["label"]["train_mean"], rel=1e-9)
    assert train["userId"].type == statistics_pb2.FeatureNameStatistics.INT  # an id a vocabulary looks up:
    assert train["userId"].HasField("string_stats")                         # categorical, as TFDV treats it
    assert train["userId"].string_stats.unique == manifest["features"]["user_id"]["vocabulary_size"]
    assert fs.coverages(train["userId"]) == {"user_id": 1.0}  # the train split covers its own vocabulary

    # TFX's per-split layout holds the same dataset as a binary proto
    with open(os.path.join(out, fs.split_statistics_file("eval")), "rb") as f:
        eval_only = statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
    assert eval_only.datasets[0] == stats.datasets[1]
    with open(os.path.join(out, fs.STATISTICS_PICTURE), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_describe_prints_the_statistics(preprocessed):
    out, manifest = preprocessed
    text = describe_statistics(out)
    assert f"train {manifest['counts']['kept']['train']:,} rows" in text
    assert any(line.split()[:2] == ["rating", "eval"] and "mean" in line for line in text.splitlines())
    assert "user_id vocabulary covers 100.0%" in text


def test_distinct_counts_above_the_sketch_size_are_shown_as_estimates():
    """KMV keeps every hash up to SKETCH_SIZE distinct values (exact); above, its count is an estimate within ~3%,
    so '9,124 distinct' of 9,066 movies is printed '~9,124 distinct'."""
    exact, estimated = statistics_pb2.StringStatistics(unique=300), statistics_pb2.StringStatistics(unique=9124)
    assert fs.distinct(exact) == "300 distinct" and fs.distinct(estimated) == "~9,124 distinct"
    assert fs.distinct(statistics_pb2.StringStatistics(unique=fs.SKETCH_SIZE)) == f"{fs.SKETCH_SIZE:,} distinct"
