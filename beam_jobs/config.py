"""`PreprocessConfig`: everything one preprocess run is told, as the job's library API.

The command line (`embedflow preprocess`, `python -m beam_jobs.preprocess`)
and the Python API (`embedflow.preprocess`) build one of these.  Importing it
is cheap (no Beam, no TensorFlow), so a notebook can make configs before the
job's libraries load.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Mapping

from stage_contracts.arguments import MAX_SEED, FieldChecks, shown
from stage_contracts.errors import UserError

if TYPE_CHECKING:
    from features.spec import FeatureSpec

DEFAULT_MAX_REJECTED_FRACTION = 0.01
KNOWN_RUNNERS = ("DirectRunner", "DataflowRunner", "PrismRunner", "FlinkRunner", "SparkRunner",
                 "PortableRunner", "InteractiveRunner")


def check_runner(beam_args: tuple[str, ...]) -> None:
    """Refuse an unknown `--runner` before any work: a name above, or a runner class given by its dotted path."""
    for i, arg in enumerate(beam_args):
        if arg == "--runner" and i + 1 < len(beam_args):
            runner = beam_args[i + 1]
        elif arg.startswith("--runner="):
            runner = arg.partition("=")[2]
        else:
            continue
        if runner not in KNOWN_RUNNERS and "." not in runner.strip("."):
            raise UserError(f"Unknown runner {shown(runner)}. Use one of {', '.join(KNOWN_RUNNERS)}.")


BUCKET_NAME = re.compile(r"[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9]")  # Cloud Storage's rule, with each dotted part <= 63
CLOUD_STORAGE_FLAGS = ("--temp_location", "--staging_location", "--template_location")


def check_cloud_storage_flags(beam_args: tuple[str, ...]) -> None:
    """Dataflow's gs:// locations checked before Beam loads: Beam only warns about a bad bucket name, then looks
    for credentials and the network for minutes and fails with a stack of tracebacks."""
    for i, arg in enumerate(beam_args):
        flag, _, value = arg.partition("=")
        if flag not in CLOUD_STORAGE_FLAGS:
            continue
        value = value or (beam_args[i + 1] if i + 1 < len(beam_args) else "")
        if not value.startswith("gs://"):
            continue
        bucket = value[len("gs://"):].split("/", 1)[0]
        if not BUCKET_NAME.fullmatch(bucket) or any(len(part) > 63 for part in bucket.split(".")):
            raise UserError(f"{flag} {value}: {bucket!r} is not a Cloud Storage bucket name (3 to 63 lowercase "
                            f"letters, digits, '-', '_' and '.', starting and ending with a letter or digit; see "
                            f"https://cloud.google.com/storage/docs/buckets#naming). Give {flag} "
                            f"gs://YOUR-BUCKET/PATH.")


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """One preprocess run: its input, output folder, spec and options; unknown Beam flags go in `beam_args`.

    The job (`beam_jobs.preprocess.run`) takes this config whole.  Besides what
    the command line gives, Python callers may pass a loaded `FeatureSpec` as
    `spec`, a mapping of span name to input as `input` (scheduled retraining),
    and `cache_dir` for TFT's analyzer cache.
    """

    output: str  # output folder (local or gs://)
    # MovieLens folder, CSV/Parquet file, glob or folder, or {span name: input} (default: the spec's source.path)
    input: str | Mapping[str, str] | None = None
    spec: "str | FeatureSpec" = "movielens"  # built-in spec name, path to a spec YAML, or a loaded spec
    overwrite: bool = False  # replace a non-empty output folder
    seed: int | None = None  # split seed (overrides the spec's split.seed)
    chunk_bytes: int | None = None  # input bytes per parsing work item (None: the job's default)
    max_rejected_fraction: float = DEFAULT_MAX_REJECTED_FRACTION
    statistics: bool = True  # write the splits' statistics in TFDV's format to <output>/statistics
    beam_args: tuple[str, ...] = ()  # Beam PipelineOptions flags, e.g. ("--direct_num_workers=2",)
    cache_dir: str | None = None  # TFT's analyzer cache, read and updated (scheduled retraining)

    def __post_init__(self) -> None:
        """Refuse a bad value now, naming the field (stage_contracts/arguments.py), not after the job has run."""
        check = FieldChecks(self)
        check.output_folder("output")
        if isinstance(self.input, (list, tuple)):
            check.fail("input", "one path: a MovieLens folder, a CSV/Parquet file, a folder of them or a glob "
                                "such as data/*.csv (a list of paths is not read)")
        if isinstance(self.input, Mapping):
            if not self.input or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                         for k, v in self.input.items()):
                check.fail("input", "a non-empty mapping of span name to input path")
        else:
            check.text("input", optional=True)
        if not isinstance(self.spec, str):
            from features.spec import FeatureSpec

            if not isinstance(self.spec, FeatureSpec):
                check.fail("spec", "a built-in spec name, a path to a spec YAML, or a FeatureSpec")
        else:
            check.text("spec")
        check.boolean("overwrite")
        check.integer("seed", minimum=0, maximum=MAX_SEED, optional=True)
        check.integer("chunk_bytes", minimum=1, optional=True)  # tiny chunks only cost speed (tests use 256)
        check.real("max_rejected_fraction", minimum=0, maximum=1)
        check.boolean("statistics")
        check.texts("beam_args", empty=True)
        check.text("cache_dir", optional=True)
        check_runner(self.beam_args)
        check_cloud_storage_flags(self.beam_args)


@dataclasses.dataclass(frozen=True)
class RecommendAllConfig:
    """One batch recommendation job (`embedflow recommend-all`): top k for every user of a model version."""

    model: str  # a model version folder, or a model dir
    output: str  # output folder (local or gs://)
    k: int = 10
    popularity_weight: float | None = None  # None: the weight chosen when the model was trained
    rating_weight: float | None = None
    block_size: int | None = None  # users scored per work item (None: the job's default)
    csv: bool = False
    overwrite: bool = False
    beam_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        check.existing_path("model", folder=True)
        check.output_folder("output")
        check.integer("k", minimum=1, maximum=100_000)
        check.real("popularity_weight", optional=True)
        check.real("rating_weight", optional=True)
        check.integer("block_size", minimum=1, optional=True)
        check.boolean("csv")
        check.boolean("overwrite")
        check.texts("beam_args", empty=True)
        check_runner(self.beam_args)
        check_cloud_storage_flags(self.beam_args)


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """One batch prediction job (`embedflow predict`): every row of a table scored by a model version."""

    model: str  # a model version folder, or a model dir
    input: str  # a CSV/Parquet file, glob or folder (local or gs://)
    output: str  # output folder (local or gs://)
    keep: tuple[str, ...] = ()  # input columns carried to the output besides the request's columns
    overwrite: bool = False
    beam_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        check.existing_path("model", folder=True)
        check.text("input")
        check.output_folder("output")
        check.texts("keep", empty=True)
        check.boolean("overwrite")
        check.texts("beam_args", empty=True)
        check_runner(self.beam_args)
        check_cloud_storage_flags(self.beam_args)
