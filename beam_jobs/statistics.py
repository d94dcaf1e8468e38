"""Statistics of the train and eval splits, in TFX's format, computed inside the preprocess job.

What TFX's StatisticsGen (TensorFlow Data Validation) would write for the raw
rows the transform reads: per split and column, missing counts, mean, std,
min/median/max, equal-width and quantile histograms for numbers; distinct
counts, top values, a rank histogram and average length for strings and for
integer ids that feed a vocabulary (TFDV's "categorical int"); and, for each
vocabulary feature, the share of the split's values its vocabulary covers
(a custom statistic, from the transformed rows: ids below the vocabulary
size).  TFDV 1.21 is not installable next to this stack, so the figures come
from tfx_bsl's own C++ sketches (the ones TFDV uses: quantiles, Misra-Gries
top-k, KMV distinct counts) in one Beam combiner per split, and are written
as `DatasetFeatureStatisticsList` files TFDV and Facets load
(stage_contracts/statistics.py knows the layout).
"""

from __future__ import annotations

import dataclasses
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from tensorflow_metadata.proto.v0 import statistics_pb2
from tensorflow_transform import analyzers as tft_analyzers
from tfx_bsl import sketches

from stage_contracts import statistics as fs
from features.graph import raw_columns
from features.spec import FeatureSpec

QUANTILE_EPS = 0.01  # TFDV's default: ranks within 1%
QUANTILE_POINTS = 101  # percentiles: the median, 10 quantile buckets and an equal-width histogram come from them
HISTOGRAM_BUCKETS = 10
TOP_VALUES = 20  # in `top_values`; the rank histogram keeps more, so splits can be compared value by value
RANK_BUCKETS = 1000  # TFDV's default
SKETCH_BUCKETS = fs.SKETCH_SIZE  # Misra-Gries counters (error <= n / 1024) and KMV hashes (distinct counts within ~3%)
_FeatureStats = statistics_pb2.FeatureNameStatistics


def categorical_columns(spec: FeatureSpec) -> set[str]:
    """Raw columns summarised by their values rather than their size: strings, and ids a vocabulary looks up."""
    looked_up = {f.source for f in spec.features if f.is_lookup}
    return {c.name for c in raw_columns(spec) if c.type == "string" or c.name in looked_up}


@dataclasses.dataclass
class _Column:
    """One column's running figures in one split; merged across bundles."""

    categorical: bool
    present: int = 0
    missing: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations (Chan et al.'s parallel update keeps it exact in float64)
    minimum: float = np.inf
    maximum: float = -np.inf
    zeros: int = 0
    text_bytes: int = 0
    quantiles: sketches.QuantilesSketch | None = None
    top: sketches.MisraGriesSketch | None = None
    distinct: sketches.KmvSketch | None = None

    def __post_init__(self) -> None:
        if self.categorical:
            self.top = self.top or sketches.MisraGriesSketch(SKETCH_BUCKETS)
            self.distinct = self.distinct or sketches.KmvSketch(SKETCH_BUCKETS)
        else:
            self.quantiles = self.quantiles or sketches.QuantilesSketch(QUANTILE_EPS, 1 << 32, 1)

    def add(self, column: pa.ListArray) -> None:
        values = column.flatten()
        self.missing += len(column) - len(values)
        if not len(values):
            return
        if self.categorical:
            self.top.AddValues(values)
            self.distinct.AddValues(values)
            if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
                self.text_bytes += pc.sum(pc.binary_length(values)).as_py() or 0
            self.present += len(values)
            return
        numbers = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        self._merge_moments(len(numbers), float(numbers.mean()), float(((numbers - numbers.mean()) ** 2).sum()))
        self.minimum, self.maximum = min(self.minimum, numbers.min()), max(self.maximum, numbers.max())
        self.zeros += int(np.count_nonzero(numbers == 0))
        self.quantiles.AddValues(values)

    def _merge_moments(self, n: int, mean: float, m2: float) -> None:
        total = self.present + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.present * n / total
        self.mean += delta * n / total
        self.present = total

    def merge(self, other: "_Column") -> None:
        self.missing += other.missing
        if self.categorical:
            self.present += other.present
            self.text_bytes += other.text_bytes
            self.top.Merge(other.top)
            self.distinct.Merge(other.distinct)
            return
        if other.present:
            self._merge_moments(other.present, other.mean, other.m2)
        self.minimum, self.maximum = min(self.minimum, other.minimum), max(self.maximum, other.maximum)
        self.zeros += other.zeros
        self.quantiles.Merge(other.quantiles)

    def to_proto(self, name: str, column_type: str) -> _FeatureStats:
        stats = _FeatureStats(type=fs.PROTO_TYPES[column_type])
        stats.path.step.append(name)
        common = statistics_pb2.CommonStatistics(
            num_non_missing=self.present, num_missing=self.missing, tot_num_values=self.present,
            min_num_values=1 if self.present else 0, max_num_values=1 if self.present else 0,
            avg_num_values=1.0 if self.present else 0.0)
        if self.categorical:
            stats.string_stats.CopyFrom(self._string_stats(common))
        else:
            stats.num_stats.CopyFrom(self._numeric_stats(common))
        return stats

    def _string_stats(self, common) -> statistics_pb2.StringStatistics:
        out = statistics_pb2.StringStatistics(common_stats=common, unique=self.distinct.Estimate())
        if self.text_bytes:
            out.avg_length = self.text_bytes / max(self.present, 1)
        for rank, entry in enumerate(self.top.Estimate().to_pylist()[:RANK_BUCKETS]):
            value = _text(entry["values"])
            if rank < TOP_VALUES:
                out.top_values.add(value=value, frequency=entry["counts"])
            out.rank_histogram.buckets.add(low_rank=rank, high_rank=rank, label=value, sample_count=entry["counts"])
        return out

    def _numeric_stats(self, common) -> statistics_pb2.NumericStatistics:
        out = statistics_pb2.NumericStatistics(common_stats=common)
        if not self.present:
            return out
        points = self.quantiles.GetQuantiles(QUANTILE_POINTS).flatten().to_numpy()
        out.mean, out.std_dev = self.mean, float(np.sqrt(self.m2 / self.present))
        out.min, out.max, out.median, out.num_zeros = self.minimum, self.maximum, points[len(points) // 2], self.zeros
        out.histograms.append(_equal_width_histogram(points, self.minimum, self.maximum, self.present))
        quantile = out.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
        step = (len(points) - 1) // HISTOGRAM_BUCKETS
        for low, high in zip(points[:-1:step], points[step::step]):
            quantile.buckets.add(low_value=low, high_value=high, sample_count=self.present / HISTOGRAM_BUCKETS)
        return out


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _equal_width_histogram(points: np.ndarray, low: float, high: float, count: int) -> statistics_pb2.Histogram:
    """Ten equal-width buckets over [min, max], their counts read off the quantile sketch's CDF (as TFDV does)."""
    histogram = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD)
    edges = np.linspace(low, high, HISTOGRAM_BUCKETS + 1)
    levels = np.linspace(0.0, 1.0, len(points))
    cdf = np.interp(edges, points, levels, left=0.0, right=1.0)
    cdf[0], cdf[-1] = 0.0, 1.0
    for a, b, share in zip(edges[:-1], edges[1:], np.diff(cdf)):
        histogram.buckets.add(low_value=a, high_value=b, sample_count=float(share * count))
    return histogram


class SplitStatisticsFn(beam.CombineFn):
    """TFXIO-shaped batches of one split (a list column per raw column) -> its DatasetFeatureStatistics."""

    def __init__(self, spec: FeatureSpec, split: str):
        self._columns = {c.name: c.type for c in raw_columns(spec)}
        self._categorical = categorical_columns(spec)
        self._split = split

    def create_accumulator(self) -> dict:
        return {"rows": 0, "columns": {name: _Column(name in self._categorical) for name in self._columns}}

    def add_input(self, accumulator: dict, batch: pa.RecordBatch) -> dict:
        accumulator["rows"] += batch.num_rows
        for name, column in accumulator["columns"].items():
            column.add(batch.column(name))
        return accumulator

    def merge_accumulators(self, accumulators) -> dict:
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            merged["rows"] += other["rows"]
            for name, column in merged["columns"].items():
                column.merge(other["columns"][name])
        return merged

    def compact(self, accumulator: dict) -> dict:
        """Shrink the quantile sketches before Beam serializes the accumulator (about 16x smaller when full)."""
        for column in accumulator["columns"].values():
            if column.quantiles is not None:
                column.quantiles.Compact()
        return accumulator

    def extract_output(self, accumulator: dict) -> statistics_pb2.DatasetFeatureStatistics:
        out = statistics_pb2.DatasetFeatureStatistics(name=self._split, num_examples=accumulator["rows"])
        for name, column in accumulator["columns"].items():
            out.features.append(column.to_proto(name, self._columns[name]))
        return out


def _vocabulary_sizes(transform_fn_path: str, features: list[str]) -> dict[str, int]:
    """Tokens in each vocabulary file of the analysed transform graph (one token a line)."""
    sizes = {}
    for name in features:
        path = os.path.join(transform_fn_path, "assets", tft_analyzers.sanitized_vocab_filename(name))
        with FileSystems.open(path) as f:
            data = f.read()
        sizes[name] = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    return sizes


class CountCovered(beam.DoFn):
    """Per transformed batch and vocabulary feature: (values with an in-vocabulary id, all values)."""

    def __init__(self, features: list[str]):
        self._features = features

    def process(self, batch: pa.RecordBatch, sizes: dict[str, int]):
        for name in self._features:
            ids = batch.column(name)
            ids = ids.flatten() if pa.types.is_list(ids.type) or pa.types.is_large_list(ids.type) else ids
            ids = ids.to_numpy(zero_copy_only=False)
            yield name, np.array([np.count_nonzero(ids < sizes[name]), len(ids)], dtype=np.int64)


class DatasetStatistics(beam.PTransform):
    """`{split: raw batches}` -> one DatasetFeatureStatisticsList, a dataset per split (a single element).

    `transformed` holds each split's transformed batches and `transform_fn`
    the analysed graph (TFT's single-element PCollection of its folder),
    whose vocabularies' coverage of each split is counted.
    """

    def __init__(self, spec: FeatureSpec, transformed: dict[str, beam.PCollection], transform_fn: beam.PCollection):
        super().__init__()
        self._spec, self._transformed, self._transform_fn = spec, transformed, transform_fn
        raw = {c.name for c in raw_columns(spec)}
        self._lookups = {f.name: f.source for f in spec.features if f.is_lookup and f.source in raw}

    def expand(self, raw_splits: dict[str, beam.PCollection]) -> beam.PCollection:
        parts = []
        for split, raw in raw_splits.items():
            parts.append(raw | f"Summarise_{split}" >> beam.CombineGlobally(SplitStatisticsFn(self._spec, split))
                         | f"Tag_{split}" >> beam.Map(lambda stats, s=split: (s, "", stats)))
        if self._lookups:
            sizes = self._transform_fn | "VocabularySizes" >> beam.Map(_vocabulary_sizes, list(self._lookups))
            for split, transformed in self._transformed.items():
                parts.append(
                    transformed
                    | f"CountCovered_{split}" >> beam.ParDo(CountCovered(list(self._lookups)),
                                                           beam.pvalue.AsSingleton(sizes))
                    | f"SumCovered_{split}" >> beam.CombinePerKey(lambda counts: np.sum(list(counts), axis=0))
                    | f"TagCovered_{split}" >> beam.Map(lambda kv, s=split: (s, kv[0], kv[1])))
        return (parts | "AllStatistics" >> beam.Flatten()
                | "GatherStatistics" >> beam.combiners.ToList()
                | "StatisticsList" >> beam.Map(self._assemble, list(raw_splits)))

    def _assemble(self, parts: list, split_order: list[str]) -> statistics_pb2.DatasetFeatureStatisticsList:
        """Datasets in split order; each vocabulary's coverage added to its source column as a custom statistic."""
        datasets = {split: value for split, feature, value in parts if not feature}
        for split, feature, (covered, total) in sorted((p for p in parts if p[1]), key=lambda p: p[:2]):
            source = self._lookups[feature]
            column = next(c for c in datasets[split].features if c.path.step[0] == source)
            column.custom_stats.add(name=fs.coverage_stat(feature), num=covered / total if total else 1.0)
            column.string_stats.vocabulary_file = f"transform_fn/assets/{feature}"
        return statistics_pb2.DatasetFeatureStatisticsList(datasets=[datasets[s] for s in split_order])


def write_statistics(stats: statistics_pb2.DatasetFeatureStatisticsList, output_dir: str) -> None:
    """The statistics as TFDV reads them, each split in TFX's StatisticsGen layout too, and the summary picture."""
    files = {fs.split_statistics_file(d.name): statistics_pb2.DatasetFeatureStatisticsList(datasets=[d])
             for d in stats.datasets}
    for name in (fs.STATISTICS_FILE, fs.STATISTICS_PICTURE, *files):
        tf.io.gfile.makedirs(os.path.dirname(os.path.join(output_dir, name)))
    with tf.io.TFRecordWriter(os.path.join(output_dir, fs.STATISTICS_FILE)) as writer:
        writer.write(stats.SerializeToString())
    for name, one in files.items():
        with tf.io.gfile.GFile(os.path.join(output_dir, name), "wb") as f:
            f.write(one.SerializeToString())
    with tf.io.gfile.GFile(os.path.join(output_dir, fs.STATISTICS_PICTURE), "wb") as f:
        f.write(fs.draw_statistics(stats))
