"""Broken rows are set aside with their reason and every row is accounted for."""

import glob
import json
import os
import tempfile

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beam_jobs import preprocess
from beam_jobs.config import PreprocessConfig
from stage_contracts.errors import UserError
from features.spec import load_spec

SPEC = """
name: accounting
source: {format: csv}
columns:
  row_id: {type: int}
  key: {type: int}
  name: {type: string}
  value: {type: float, min: 0, max: 100}
  lat: {type: float, min: -90, max: 90}
deduplicate: {key: [key], latest_by: row_id}
features:
  - {name: name, source: name, transform: vocabulary}
  - {name: value, source: value, transform: z_score}
  - {name: lat_bucket, source: lat, transform: quantile_bucketize, num_buckets: 3}
label: {column: row_id}
split: {eval_fraction: 0.3, key: [row_id]}
"""

BROKEN = {  # kind -> (reason, how the line is written)
    "wrong_field_count": lambda r: f"{r},{r},n{r % 3},{r % 90}".encode(),
    "unparsable_number": lambda r: f"{r},{r},n{r % 3},abc,{r % 90}".encode(),
    "not_finite": lambda r: f"{r},{r},n{r % 3},nan,{r % 90}".encode(),
    "out_of_range": lambda r: f"{r},{r},n{r % 3},{r % 50},95.5".encode(),
    "missing_value": lambda r: f"{r},{r},,{r % 50},{r % 90}".encode(),
    "bad_encoding": lambda r: f"{r},{r},".encode() + b"caf\xe9" + f",{r % 50},{r % 90}".encode(),
}


def write_table(kinds: list[str], dup_targets: list[int]) -> tuple[bytes, dict[int, str], set[int]]:
    """A CSV of rows of the given kinds, with the reason each row should get (or none: kept)."""
    lines = [b"row_id,key,name,value,lat"]
    expected: dict[int, str] = {}
    latest_by_key: dict[int, int] = {}
    valid_keys: list[int] = []
    for row, kind in enumerate(kinds):
        if kind == "valid" or (kind == "duplicate" and not valid_keys):
            key = row
        elif kind == "duplicate":
            key = valid_keys[dup_targets[row] % len(valid_keys)]
        else:
            lines.append(BROKEN[kind](row))
            expected[row] = kind
            continue
        lines.append(f"{row},{key},n{row % 3},{row % 50}.5,{(row * 7) % 180 - 89.5}".encode())
        if key in latest_by_key:
            expected[latest_by_key[key]] = "duplicate_key"
        latest_by_key[key] = row
        valid_keys.append(key)
    kept = set(latest_by_key.values())
    return b"\n".join(lines) + b"\n", expected, kept


def kept_row_ids(out_dir: str) -> list[int]:
    ids = []
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(out_dir, split, "*.tfrecord.gz"))
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            ids.append(int(example.features.feature["row_id"].float_list.value[0]))
    return ids


def rejected_rows(out_dir: str) -> list[dict]:
    rows = []
    for path in glob.glob(os.path.join(out_dir, "rejected", "rows-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


kinds_strategy = st.lists(
    st.sampled_from(["valid"] * 4 + ["duplicate"] + list(BROKEN)), min_size=12, max_size=60
).filter(lambda ks: ks.count("valid") >= 6)


@pytest.mark.slow  # a preprocess job for each of the five drawn tables
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kinds=kinds_strategy, dup_targets=st.lists(st.integers(0, 1000), min_size=60, max_size=60))
def test_every_row_is_kept_or_rejected_exactly_once_with_its_reason(kinds, dup_targets):
    root = tempfile.mkdtemp(prefix="accounting_")
    data, expected, kept = write_table(kinds, dup_targets)
    with open(os.path.join(root, "table.csv"), "wb") as f:
        f.write(data)
    with open(os.path.join(root, "spec.yaml"), "w") as f:
        f.write(SPEC)
    out = os.path.join(root, "out")
    manifest = preprocess.run(PreprocessConfig(output=out, input=os.path.join(root, "table.csv"),
                                               spec=load_spec(os.path.join(root, "spec.yaml")),
                                               max_rejected_fraction=1.0, chunk_bytes=256))
    ids = kept_row_ids(out)
    assert sorted(ids) == sorted(kept)  # each kept row exactly once
    rejected = rejected_rows(out)
    got = {r["line"] - 2: r["reason"] for r in rejected}
    assert len(got) == len(rejected)  # each rejected row exactly once
    assert got == expected
    counts = manifest["counts"]
    assert counts["read"] == len(kinds) == len(ids) + len(rejected)
    assert counts["rejected"]["by_reason"] == {r: list(expected.values()).count(r) for r in set(expected.values())}
    for r in rejected:
        assert r["source"].endswith("table.csv") and r["raw"] and r["detail"]


def test_too_many_rejected_rows_fail_naming_reasons_and_folder(tmp_path):
    kinds = ["valid"] * 10 + ["not_finite"] * 3 + ["out_of_range"]
    data, _, _ = write_table(kinds, [0] * len(kinds))
    (tmp_path / "table.csv").write_bytes(data)
    (tmp_path / "spec.yaml").write_text(SPEC)
    out = str(tmp_path / "out")
    with pytest.raises(UserError) as err:
        preprocess.run(PreprocessConfig(output=out, input=str(tmp_path / "table.csv"),
                                        spec=load_spec(str(tmp_path / "spec.yaml"))))
    message = str(err.value)
    assert "not_finite (3)" in message and "out_of_range (1)" in message
    assert os.path.join(out, "rejected") in message
    assert not os.path.exists(os.path.join(out, "_SUCCESS"))
