"""`embedflow init-spec`: draft a complete spec from a table, each choice explained in a YAML comment.

Reads a sample of a CSV or Parquet table (a file, a folder or a glob; the
first file is sampled) and profiles each column: its type as the preprocess
job will parse it, empty values, range, distinct values and skew.  From
that it drafts one feature per column: text becomes a vocabulary (rare
levels share the out-of-vocabulary id), lists in one field ("a|b") a
multivalent vocabulary, numbers a z-score (log1p first where skewed and
positive) that the model also sees piecewise-linearly over quantile bins,
latitude/longitude quantile buckets and their hashed cross; id-like and
constant columns are left out.  The label's task (regression, binary or
multiclass: text labels are classes) and transform (log for positive skewed
values such as prices) are inferred, a label that cannot be learned (one
value, a class with too few rows) is refused, and
the split and model sections get the tabular defaults chosen by measurement
(bench/tabular.py).  The draft is validated with `load_spec` before it is
written, so what is written `describe`s and runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import logging
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from stage_contracts.arguments import FieldChecks
from stage_contracts.errors import InputError, OutputError, UserError
from features.label_check import label_problem
from features.spec import Label, load_spec
from features.spec_reader import suggest

log = logging.getLogger(__name__)

SAMPLE_ROWS = 100_000
CSV_BLOCK_BYTES = 16 << 20          # the longest CSV line read (pyarrow's default is 1 MiB)
SEPARATORS = ("|", ";", ",")        # list separators looked for inside text fields
DELIMITERS = (",", ";", "\t", "|")  # CSV delimiters looked for in the header line
ID_SHARE = 0.95                     # a text column this distinct is an identifier (or free text), not a category
ID_WORDS = {"id", "pid", "uid", "uuid", "guid", "key", "order", "index", "idx", "no", "number", "code"}
SKEWED = 1.0                        # sample skewness above which a positive number is log-scaled
LABEL_SKEWED = 0.5                  # ... and a positive regression label predicted as log(label)
MAX_CLASSES = 50                    # a text label with more distinct values is not drafted as classes
RARE_SHARE = 0.002                  # vocabulary frequency threshold: 0.2% of the (train) rows, at least 2
PIECEWISE_BINS = 16                 # quantile bins of the piecewise-linear encoding of numbers
LOCATION_BUCKETS = 20               # quantile buckets of latitude and of longitude, crossed...
LOCATION_CROSS_BUCKETS = 1000       # ...and hashed into this many cells
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
LABEL_NAMES = re.compile(r"(price|target|label|churn(ed)?|y|class|outcome)$", re.IGNORECASE)
LATITUDE = re.compile(r"(lat|latitude)$", re.IGNORECASE)
LONGITUDE = re.compile(r"(lon|lng|long|longitude)$", re.IGNORECASE)

# The model section for tables; defaults measured on the wide and the California-style housing samples
# (docs/tables.md "Your own table", bench/tabular.py).
MODEL_DEFAULTS = (
    ("type", "dnn_and_trees", "a DNN and gradient-boosted trees on the same features, averaged with the weight "
                              "the validation slice prefers"),
    ("hidden_units", [256, 256], "two wide layers: enough for interactions on small and medium tables"),
    ("dropout", 0.15, "dropout and weight decay keep a few thousand rows from being memorised"),
    ("weight_decay", 0.0001, None),
    ("learning_rate", 0.001, "halved whenever the eval loss stalls; the best epoch's weights are kept"),
    ("batch_size", 128, None),
    ("epochs", 200, "an upper bound: training stops when the eval loss has not improved for the patience"),
    ("early_stopping_patience", 20, None),
    ("ensemble", 4, "networks from different seeds, averaged inside the exported model"),
    ("wide", True, "each category and each number also reach the output straight, as in a linear model"),
    ("max_depth", [4, 6, 8], "the trees' depth and learning rate differ by table: train tries each and keeps the "
                             "best on the validation slice (listed in metrics.json)"),
    ("trees_learning_rate", [0.05, 0.1], None),
    ("trees_read_embeddings", True, "trees are also tried with the DNN's learned embeddings among their inputs"),
)


@dataclasses.dataclass(frozen=True)
class InitSpecConfig:
    """One draft: the table to profile, the label (None: guessed) and where the spec goes."""

    input: str
    output: str = "spec.yaml"
    label: str | None = None
    overwrite: bool = False
    sample_rows: int = SAMPLE_ROWS

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        check.text("input")
        check.output_file("output")
        check.text("label", optional=True)
        check.boolean("overwrite")
        check.integer("sample_rows", minimum=1)


@dataclasses.dataclass(frozen=True, eq=False)
class Profile:
    """What the sample shows of one column."""

    name: str
    type: str                 # int, float or string: as the preprocess job will parse it
    rows: int
    missing: int
    distinct: int
    values: np.ndarray | None = None  # numbers (without the missing ones)
    text: pa.Array | None = None      # text (without the missing ones)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def distinct_share(self) -> float:
        return self.distinct / max(self.present, 1)

    @property
    def skew(self) -> float:
        v = self.values
        if v is None or len(v) < 3 or v.std() == 0:
            return 0.0
        return float(np.mean(((v - v.mean()) / v.std()) ** 3))


# --------------------------------------------------------------------------- reading


def input_files(path: str) -> tuple[str, list[str]]:
    """(format, files) of a file, a folder of *.csv / *.parquet, or a glob."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.parquet"))) or sorted(glob.glob(os.path.join(path, "*.csv")))
    elif any(ch in path for ch in "*?["):
        files = sorted(glob.glob(path))
    else:
        files = [path] if os.path.exists(path) else []
    if not files:
        raise InputError(f"Input {path}: no such file, or no .csv / .parquet files in it. Give a CSV or Parquet "
                         f"table (a file, a folder or a glob).")
    return ("parquet" if files[0].endswith(".parquet") else "csv"), files


def _delimiter(path: str) -> str:
    with open(path, "rb") as f:
        header = f.readline().decode("utf-8", errors="replace")
    return max(DELIMITERS, key=header.count)


def read_sample(path: str, fmt: str, delimiter: str, rows: int) -> pa.Table:
    """Up to `rows` rows; CSV columns as text, typed below the way the preprocess job's parser types them."""
    try:
        if fmt == "parquet":
            table = pq.ParquetFile(path)
            first = next(table.iter_batches(batch_size=rows), None)
            return pa.Table.from_batches([first]) if first is not None else table.schema_arrow.empty_table()
        parse = pacsv.ParseOptions(delimiter=delimiter)
        read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
        names = pacsv.open_csv(path, read_options=read, parse_options=parse).schema.names
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, null_values=[""], strings_can_be_null=True))
        batches, count = [], 0
        for batch in reader:
            batches.append(batch)
            count += batch.num_rows
            if count >= rows:
                break
        return pa.Table.from_batches(batches, schema=reader.schema).slice(0, rows)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        if "straddl" in str(e):
            raise InputError(f"Input {path} has a line longer than {CSV_BLOCK_BYTES >> 20} MiB, so it is not read as "
                             f"a CSV table (one row per line): check its line endings, or that it is a table at "
                             f"all.") from None
        raise InputError(f"Input {path} could not be read as {fmt.upper()}: {str(e).splitlines()[0]}. "
                         f"Check that it is a {fmt.upper()} table with a header row.") from None


def _typed(arr: pa.Array) -> tuple[str, pa.Array]:
    """A column's type as the parser reads it: int if every value is an integer, float if a number, else string."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_boolean(arr.type) or pa.types.is_integer(arr.type):
        return "int", arr.cast(pa.int64())
    if pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        return "float", arr.cast(pa.float64())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return "unsupported", arr
    text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    for name, target in (("int", pa.int64()), ("float", pa.float64())):
        try:
            return name, text.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return "string", arr.cast(pa.string())


def profile(table: pa.Table) -> list[Profile]:
    profiles = []
    for name in table.column_names:
        ctype, arr = _typed(table.column(name).combine_chunks())
        if ctype == "unsupported":
            profiles.append(Profile(name, ctype, len(arr), arr.null_count, 0))
            continue
        if ctype == "string":
            arr = pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)
        present = arr.drop_null()
        if ctype == "float":
            present = present.filter(pc.is_finite(present))
        distinct = len(pc.unique(present))
        if ctype == "string":
            profiles.append(Profile(name, ctype, len(arr), len(arr) - len(present), distinct, text=present))
        else:
            values = present.to_numpy(zero_copy_only=False).astype(np.float64)
            profiles.append(Profile(name, ctype, len(arr), len(arr) - len(present), distinct, values=values))
    return profiles


# --------------------------------------------------------------------------- drafting


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip().removesuffix("...").strip()


def _line(indent: str, body: str, comment: str | None) -> str:
    return f"{indent}{body}" + (f"   # {comment}" if comment else "")


def feature_name(column: str, taken: set[str]) -> str:
    """A name TensorFlow and Keras accept (letters, digits, _ . -), unique in the spec."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", column).strip("_") or "feature"
    name = name if name[0].isalpha() else f"f_{name}"
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _separator(p: Profile) -> str | None:
    """The list separator of a multivalent text column ("a|b"), if its fields hold lists."""
    for sep in SEPARATORS:
        holding = pc.sum(pc.match_substring(p.text, sep)).as_py() or 0
        if holding >= 0.1 * p.present:
            tokens = pc.list_flatten(pc.split_pattern(p.text, sep))
            if len(pc.unique(tokens)) < p.distinct:
                return sep
    return None


def _numbers_with_text(p: Profile) -> str | None:
    """The text that keeps a mostly numeric column from being read as a number ("NA"), if that is the case."""
    numeric = pc.match_substring_regex(p.text, NUMBER)
    share = (pc.sum(numeric).as_py() or 0) / max(p.present, 1)
    if not 0.8 <= share < 1:
        return None
    counts = pc.value_counts(p.text.filter(pc.invert(numeric)))
    return counts[int(np.argmax(counts.field("counts").to_numpy()))]["values"].as_py()


def _is_id(p: Profile) -> bool:
    """Text nearly all distinct, or integers nearly all distinct that are named like an id or count rows.

    Distinct integers alone are not enough: an area or a price measured in
    whole units is often distinct in every row and is the most useful feature.
    """
    if p.type not in ("int", "string") or p.present < 20 or p.distinct_share < ID_SHARE:
        return False
    if p.type == "string":
        return True
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", p.name)
    counter = p.values.max() - p.values.min() + 1 <= 2 * p.distinct  # 1..n, possibly with gaps
    return bool(words and words[-1].lower() in ID_WORDS) or bool(counter)


def _location_pair(profiles: list[Profile], label: str) -> tuple[Profile, Profile] | None:
    def find(pattern: re.Pattern, bound: float) -> Profile | None:
        return next((p for p in profiles if p.name != label and p.type in ("int", "float") and p.present
                     and pattern.search(re.sub(r"[^A-Za-z]", "", p.name)) and np.abs(p.values).max() <= bound), None)

    lat, lon = find(LATITUDE, 90), find(LONGITUDE, 180)
    return (lat, lon) if lat and lon else None


def choose_label(profiles: list[Profile], label: str | None) -> Profile:
    names = [p.name for p in profiles]
    if label is not None:
        match = next((p for p in profiles if p.name == label), None)
        if match is None:
            raise InputError(f"--label {label}: the table has no such column{suggest(label, names)}; its columns "
                             f"are {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}.")
    else:
        numeric = [p for p in profiles if p.type in ("int", "float")]
        fallback = next((p for p in reversed(numeric) if not _is_id(p)), None)
        labels = [p for p in profiles if p.type in ("int", "float") or (p.type == "string" and p.distinct <= MAX_CLASSES)]
        match = next((p for p in reversed(labels) if LABEL_NAMES.search(p.name)), fallback)
        if match is None:
            raise InputError("The table has no numeric column to predict; name the label with --label.")
    if match.type not in ("int", "float", "string"):
        raise InputError(f"Label column {match.name} has a type the spec cannot read; choose another --label.")
    if match.present == 0:
        raise InputError(f"Label column {match.name} is empty in all {match.rows} sampled rows; choose another "
                         f"--label.")
    if match.type == "string" and match.distinct > MAX_CLASSES:
        raise InputError(f"Label column {match.name} holds text with {match.distinct} distinct values in the sample, "
                         f"more than the {MAX_CLASSES} classes a label may have; predict a number or a coarser "
                         f"column.")
    return match


def _label_section(p: Profile) -> tuple[dict, str]:
    """The label's spec section and the comment that says why."""
    if p.type == "string":
        counts = pc.value_counts(p.text)
        ranked = sorted(zip(counts.field("counts").to_pylist(), counts.field("values").to_pylist()), reverse=True)
        if len(ranked) == 2:
            return ({"column": p.name, "task": "binary_classification"},
                    f"two classes, {ranked[0][1]!r} and {ranked[1][1]!r}: the model gives each one's probability "
                    f"(the positive class is the rarer, {ranked[1][1]!r})")
        return ({"column": p.name, "task": "multiclass_classification"},
                f"{len(ranked)} classes: the model gives each one's probability")
    values = p.values
    if set(np.unique(values)) <= {0.0, 1.0}:
        return ({"column": p.name, "task": "binary_classification"},
                "values are 0 and 1: a yes/no outcome, predicted as a probability")
    if values.min() > 0 and p.skew > LABEL_SKEWED:
        return ({"column": p.name, "task": "regression", "transform": "log"},
                f"positive and skewed (skew {p.skew:.1f}): the model learns log({p.name}), so errors are relative; "
                f"the exported model answers in {p.name}'s units")
    return {"column": p.name, "task": "regression"}, "a number to predict"


def check_label(p: Profile, source: str) -> None:
    """Refuse a label the sample shows cannot be learned: one value, or a class with too few rows."""
    section, _ = _label_section(p)
    label = Label(column=p.name, task=section["task"], text=p.type == "string")
    counts = None
    if label.is_classification:
        if p.type == "string":
            values = pc.value_counts(p.text)
            counts = dict(zip(values.field("values").to_pylist(), values.field("counts").to_pylist()))
        else:
            distinct, n = np.unique(p.values, return_counts=True)
            counts = {f"{v:g}": int(c) for v, c in zip(distinct, n)}
    problem = label_problem(label, counts, p.distinct)
    if problem:
        raise InputError(f"Input {source}: label column {p.name!r} cannot be learned from the {p.rows:,} sampled rows: "
                         f"{problem}. Choose another --label.")


def _label_lines(p: Profile) -> list[str]:
    section, comment = _label_section(p)
    return [_line("", "label: " + _flow(section), comment)]


def _column_line(p: Profile, label: bool, location_bound: float | None, note: str | None = None) -> str:
    body: dict = {"type": p.type}
    notes = []
    if p.missing and label:
        notes.append(f"empty in {p.missing} of {p.rows:,} rows: rows without a label are set aside")
    elif p.missing:
        body["required"] = False
        notes.append(f"{p.missing / p.rows:.0%} empty" if p.missing >= 0.01 * p.rows else
                     f"{p.missing} of {p.rows:,} empty")
        if p.type != "string":
            body["missing"] = "mean"
            notes[-1] += ": unknown, which the model sees as such"
    if location_bound is not None:
        body.update(min=-location_bound, max=location_bound)
    elif p.type != "string" and p.present and p.values.min() >= 0:
        if label and set(np.unique(p.values)) <= {0.0, 1.0}:
            body.update(min=0, max=1)
        else:
            body["min"] = 0
    return _line("  ", f"{_flow(p.name)}: {_flow(body)}", note or "; ".join(notes) or None)


def draft_spec(profiles: list[Profile], label: Profile, source: dict, name: str) -> str:
    """The spec's YAML text, one short comment per choice."""
    rows = profiles[0].rows
    location = _location_pair(profiles, label.name)
    location_names = {p.name for p in location} if location else set()
    ids = [p for p in profiles if p is not label and p.name not in location_names and _is_id(p)]
    split_key = ids[0] if ids else None
    columns, features, left_out = [], [], []
    taken: set[str] = set()
    threshold = max(2, round(RARE_SHARE * rows * 0.8))
    for p in profiles:
        is_location = p.name in location_names
        if p is label:
            columns.append(_column_line(p, True, None))
            continue
        reason = _left_out_reason(p, p in ids)
        if reason is not None:
            left_out.append(f"{p.name} ({reason})")
            if p is split_key:
                columns.append(_column_line(p, False, None, "keys the split only"))
            continue
        columns.append(_column_line(p, False, (90 if p is location[0] else 180) if is_location else None))
        features.append(_feature_line(p, feature_name(p.name, taken), threshold))
    if location:
        features += _location_feature_lines(location, taken)
    if not features:
        raise InputError(f"Nothing in the table to learn from besides the label {label.name}: every other column is "
                         f"id-like, constant or empty ({'; '.join(left_out)}).")
    return _spec_text(rows, name, source, columns, left_out, features, label, split_key)


def _spec_text(rows: int, name: str, source: dict, columns: list[str], left_out: list[str], features: list[str],
               label: Profile, split_key: Profile | None) -> str:
    """The spec's sections in order, from the lines drafted for its columns and features."""
    lines = [f"# Drafted by `embedflow init-spec` from {rows:,} sampled rows; check it, then `embedflow describe`.",
             f"name: {_flow(name)}",
             f"source: {_flow(source)}",
             "columns:   # min: 0 where the sample has no negative value (a negative one is then rejected)",
             *columns]
    if left_out:
        lines.append("# left out: " + "; ".join(left_out))
    lines += ["features:", *features, *_label_lines(label)]
    split = {"eval_fraction": 0.2, "seed": 42}
    if split_key is not None:
        split["key"] = split_key.name
    lines.append(_line("", "split: " + _flow(split), "20% held out for evaluation"
                       + (f"; by {split_key.name}, so a row keeps its side as data is added" if split_key else
                          ", by a hash of the whole row")))
    lines.append("model:")
    lines += [_line("  ", f"{key}: {_flow(value)}", comment) for key, value, comment in MODEL_DEFAULTS]
    return "\n".join(lines) + "\n"


def _left_out_reason(p: Profile, id_like: bool) -> str | None:
    """Why a column gets no feature (None: it gets one)."""
    if p.type == "unsupported":
        return "a type the spec cannot read"
    if p.present == 0:
        return "always empty"
    if p.distinct <= 1:
        return "one value only"
    return "id-like: nearly every value distinct" if id_like else None


def _feature_line(p: Profile, fname: str, threshold: int) -> str:
    """A column's feature: a vocabulary for text (rarer values out of it), else a z-score with piecewise-linear
    bins (log1p first when skewed), with the comment that says why."""
    if p.type == "string":
        sep = _separator(p)
        record = {"name": fname, "source": p.name, "transform": "vocabulary", "frequency_threshold": threshold}
        if sep:
            record["separator"] = sep
        comment = (f"{p.distinct} values" + (f" in lists split on {sep!r}" if sep else "")
                   + f"; rarer than {threshold} rows: out of vocabulary")
        stray = _numbers_with_text(p)
        if stray is not None:
            comment += (f". Mostly numbers, but {stray!r} is text, so the column is read as categories; "
                        f"leave unknown numbers empty to read it as a number")
    else:
        record = {"name": fname, "source": p.name, "transform": "z_score"}
        skewed = p.distinct > 2 and p.values.min() >= 0 and p.skew > SKEWED
        if skewed:
            record["log"] = True
        if p.distinct > 2:
            record["piecewise_linear"] = min(PIECEWISE_BINS, p.distinct - 1)
        comment = ("two values: a flag" if p.distinct <= 2 else
                   (f"skewed ({p.skew:.1f}): log1p, " if skewed else "")
                   + f"z-score + piecewise-linear over {record['piecewise_linear']} quantile bins")
    return _line("  - ", _flow(record), comment)


def _location_feature_lines(location: tuple[Profile, Profile], taken: set[str]) -> list[str]:
    """Latitude and longitude in bands of equal counts, and their hashed cross: a level per neighbourhood."""
    lines, cells = [], []
    for p in location:
        cells.append(feature_name(f"{p.name}_bucket", taken))
        lines.append(_line("  - ", _flow({"name": cells[-1], "source": p.name, "transform": "quantile_bucketize",
                                          "num_buckets": LOCATION_BUCKETS}),
                           f"{LOCATION_BUCKETS} bands of equal counts"))
    lines.append(_line("  - ", _flow({"name": feature_name("location", taken), "transform": "hashed_cross",
                                      "cross": cells, "hash_buckets": LOCATION_CROSS_BUCKETS}),
                       f"latitude x longitude cells: a price level per neighbourhood, hashed into "
                       f"{LOCATION_CROSS_BUCKETS} rows"))
    return lines


def init_spec(config: InitSpecConfig) -> str:
    """Draft, validate and write the spec; returns its path."""
    if os.path.exists(config.output) and not config.overwrite:
        raise OutputError(f"{config.output} exists; pass --overwrite to replace it, or choose another --output.")
    fmt, files = input_files(config.input)
    delimiter = _delimiter(files[0]) if fmt == "csv" else ","
    table = read_sample(files[0], fmt, delimiter, config.sample_rows)
    repeated = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if repeated:
        raise InputError(f"Input {files[0]} names column(s) {', '.join(map(repr, repeated))} more than once in its "
                         f"header; a spec refers to columns by name, so rename the copies.")
    if table.num_rows == 0:
        raise InputError(f"Input {files[0]} has no rows (only a header, or nothing); a spec is drafted from data.")
    if table.num_columns < 2:
        raise InputError(f"Input {files[0]} has one column ({table.column_names[0]!r}); a model needs a label and "
                         f"at least one other column" + (" (is the delimiter one of , ; tab |?)" if fmt == "csv" else "")
                         + ".")
    profiles = profile(table)
    label = choose_label(profiles, config.label)
    check_label(label, files[0])
    source = {"format": fmt, "path": config.input}
    if delimiter != ",":
        source["delimiter"] = delimiter
    name = re.sub(r"[^A-Za-z0-9_-]", "_", os.path.splitext(os.path.basename(files[0]))[0]) or "table"
    text = draft_spec(profiles, label, source, name)
    os.makedirs(os.path.dirname(os.path.abspath(config.output)), exist_ok=True)
    staging = config.output + ".draft"
    try:
        with open(staging, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise OutputError(f"Cannot write the spec to {config.output}: {e.strerror or e}.") from None
    try:
        load_spec(staging)
    except UserError as e:  # a draft the spec rejects is this command's bug; say so with the reason
        raise UserError(f"init-spec drafted a spec that does not validate ({e}); the draft is in {staging}.") from None
    os.replace(staging, config.output)
    log.info("Drafted %s from %d rows of %s: %d columns, label %s", config.output, table.num_rows, files[0],
             len(profiles), label.name)
    return config.output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a CSV or Parquet table: a file, a folder or a glob")
    parser.add_argument("--label", help="the column to predict: a number, or classes (text such as yes/no) (default: "
                                        "a column named like price/target/label/churn/class, else the last numeric "
                                        "column)")
    parser.add_argument("--output", default="spec.yaml", help="where the spec goes (default spec.yaml)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--sample-rows", type=int, default=SAMPLE_ROWS, help="rows read to profile the columns")


def main_from_args(args: argparse.Namespace, _extra: list[str]) -> None:
    path = init_spec(InitSpecConfig(input=args.input, output=args.output, label=args.label,
                                    overwrite=args.overwrite, sample_rows=args.sample_rows))
    print(f"Wrote {path}. Check it with: embedflow describe --spec {path}")
