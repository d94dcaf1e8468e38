"""`PreprocessConfig`: everything one preprocess run is told, as the job's library API.

The command line (`embedflow preprocess`, `python -m beam_jobs.preprocess`)
and the Python API (`embedflow.preprocess`) build one of these.  Importing it
is cheap (no Beam, no TensorFlow), so a notebook can make configs before the
job's libraries load.
"""

from __future__ import annotations

import dataclasses

DEFAULT_MAX_REJECTED_FRACTION = 0.01


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """One preprocess run: its input, output folder, spec and options; unknown Beam flags go in `beam_args`."""

    output: str  # output folder (local or gs://)
    input: str | None = None  # MovieLens folder, CSV/Parquet file, glob or folder (default: the spec's source.path)
    spec: str = "movielens"  # built-in spec name or path to a spec YAML
    overwrite: bool = False  # replace a non-empty output folder
    seed: int | None = None  # split seed (overrides the spec's split.seed)
    chunk_bytes: int | None = None  # input bytes per parsing work item (None: the job's default)
    max_rejected_fraction: float = DEFAULT_MAX_REJECTED_FRACTION
    statistics: bool = True  # write the splits' statistics in TFDV's format to <output>/statistics
    beam_args: tuple[str, ...] = ()  # Beam PipelineOptions flags, e.g. ("--direct_num_workers=2",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "beam_args", tuple(self.beam_args))
