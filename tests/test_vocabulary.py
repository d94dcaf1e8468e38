"""Vocabularies counted together as Arrow tables write the files TFT's `tft.vocabulary` writes, also from its cache."""

import os

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.beam import analyzer_cache

from beam_jobs.vocabulary import PLACEHOLDER_TOKEN, CountTableCoder, CountTables, SumCountTables, vocabularies
from features.analyzers import TokenCounts

# Ties in count (b, c, d), an empty token, tokens with line breaks, a token seen once.
SPANS = {
    "span-a": ["b", "a", "c", "a", "", "x\ny", "d", "b", "c", "a"],
    "span-b": ["d", "a", "e\r", "c", "b", "zz", "d", ""],
}
SETTINGS = {"all": {}, "top3": {"top_k": 3}, "twice": {"frequency_threshold": 2},
            "top2_twice": {"top_k": 2, "frequency_threshold": 2}, "none_left": {"frequency_threshold": 100}}
METADATA = tft.DatasetMetadata.from_feature_spec({"token": tf.io.FixedLenFeature([], tf.string)})


OOV_BUCKETS = 3
# Seen tokens, unseen ones (hashed into OOV buckets), and ones no vocabulary file can hold.
PROBE = ["a", "b", "zz", "e\r", "never seen", "", "x\ny", "d", "q"]


def preprocessing_fn(inputs):
    """All settings counted and looked up by one analyzer of ours (one file each), next to TFT's, one per setting."""
    ours = [TokenCounts(f"ours_{name}", text=inputs["token"], **settings) for name, settings in SETTINGS.items()]
    vocabularies(ours)
    outputs = {}
    for counted, (name, settings) in zip(ours, SETTINGS.items()):
        outputs[f"ours_{name}"] = counted.ids(OOV_BUCKETS)
        outputs[f"tft_{name}"] = tft.compute_and_apply_vocabulary(inputs["token"], vocab_filename=f"tft_{name}",
                                                                  num_oov_buckets=OOV_BUCKETS, **settings)
    return outputs


def analyze(out_dir: str, cache_dir: str, spans: dict) -> tft.TFTransformOutput:
    keys = {name: analyzer_cache.DatasetKey(name) for name in SPANS}
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=os.path.join(out_dir, "tmp")):
        data = {keys[name]: (None if rows is None else p | f"Rows_{name}" >> beam.Create(
            [{"token": token} for token in rows])) for name, rows in spans.items()}
        cached = [key for key, rows in data.items() if rows is None]
        input_cache = p | analyzer_cache.ReadAnalysisCacheFromFS(cache_dir, cached)
        transform_fn, output_cache = (data, input_cache, METADATA) | tft_beam.AnalyzeDatasetWithCache(
            preprocessing_fn)
        _ = output_cache | analyzer_cache.WriteAnalysisCacheToFS(p, cache_dir, list(keys.values()))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return tft.TFTransformOutput(out_dir)


def test_same_files_as_tft_vocabulary_and_from_the_analyzer_cache(tmp_path):
    cache = str(tmp_path / "cache")
    fresh = analyze(str(tmp_path / "fresh"), cache, SPANS)
    for name in SETTINGS:
        assert fresh.vocabulary_by_name(f"ours_{name}") == fresh.vocabulary_by_name(f"tft_{name}"), name
    assert fresh.vocabulary_by_name("ours_all") == [b"a", b"d", b"c", b"b", b"zz"]
    assert fresh.vocabulary_by_name("ours_none_left") == [PLACEHOLDER_TOKEN]
    # the one lookup table of ours gives TFT's ids, OOV buckets included, and the same range in the schema
    ids = fresh.transform_raw_features({"token": tf.constant(PROBE)})
    domains = {f.name: (f.int_domain.min, f.int_domain.max) for f in fresh.transformed_metadata.schema.feature}
    for name in SETTINGS:
        assert ids[f"ours_{name}"].numpy().tolist() == ids[f"tft_{name}"].numpy().tolist(), name
        assert domains[f"ours_{name}"] == domains[f"tft_{name}"], name
    assert len(set(ids["ours_all"].numpy().tolist())) > 5  # seen tokens and several OOV buckets

    # span-a's rows are not given: its counts can only come from the cache written above.
    cached = analyze(str(tmp_path / "cached"), cache, {"span-a": None, "span-b": SPANS["span-b"]})
    for name in SETTINGS:
        assert cached.vocabulary_by_name(f"ours_{name}") == fresh.vocabulary_by_name(f"ours_{name}"), name


def test_cache_entries_round_trip_and_their_keys_do_not_depend_on_the_process():
    coder = CountTableCoder()
    table = pa.table({"vocabulary": pa.array([0, 3], pa.int32()),
                      "token": pa.array([b"a", b"\xff\x00"], pa.large_binary()),
                      "count": pa.array([3, 1])})
    assert coder.decode_cache(coder.encode_cache(table)).equals(table)
    # TFT hashes these reprs into the cache key; an object id in them would make every later run miss.
    assert [repr(CountTables()), repr(SumCountTables()), repr(coder)] == [
        "CountTables()", "SumCountTables()", "<CountTableCoder>"]
