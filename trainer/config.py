"""`TrainConfig`: everything one training run is told, as the trainer's library API.

The command line (`embedflow train`, `python -m trainer.task`), scheduled
retraining, tuning, the demo, benchmarks and tests all build one of these;
in a notebook: `train(TrainConfig(input="runs/prep", job_dir="runs/job"))`.
Settings left as None keep the spec's value.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

from stage_contracts.arguments import MAX_SEED, FieldChecks
from stage_contracts.errors import UserError

STRATEGIES = ("auto", "none", "mirrored", "multi_worker", "parameter_server")  # trainer/distribution.py


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: the preprocess output it reads, where it writes, and overrides of the spec's settings."""

    input: str  # a complete preprocess output folder
    job_dir: str = "runs/train"  # checkpoints and TensorBoard logs
    model_dir: str | None = None  # where version folders go (default $AIP_MODEL_DIR, else <job_dir>/model)
    seed: int = 42
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    hidden_units: tuple[int, ...] | None = None
    exclude_features: tuple[str, ...] = ()  # dnn: features left out (ablations)
    params: str | None = None  # a params file written by `embedflow tune`
    embedding_scale: float | None = None  # multiplies every auto-sized embedding dimension
    in_memory: bool | None = None  # None: in memory when the parsed train split fits memory_budget_gb
    memory_budget_gb: float | None = None  # what the parsed train split may take in memory (None: a quarter of RAM)
    warm_start_from: str | None = None  # a model version folder whose weights seed this run when shapes allow
    distribution: str = "auto"  # the tf.distribute strategy (trainer/distribution.py): auto, none, mirrored, ...
    ps_shard_mb: float = 256.0  # parameter_server: a table is split over the ps tasks in shards at least this big

    def __post_init__(self) -> None:
        """Refuse a bad value now, naming the field (stage_contracts/arguments.py), not after minutes of training."""
        check = FieldChecks(self)
        check.text("input")
        check.output_folder("job_dir")
        check.output_folder("model_dir", optional=True)
        check.integer("seed", minimum=0, maximum=MAX_SEED)
        check.integer("epochs", minimum=1, optional=True)
        check.integer("batch_size", minimum=1, optional=True)
        check.real("learning_rate", above=0, maximum=10, optional=True)
        check.integers("hidden_units", optional=True)
        check.texts("exclude_features")
        check.existing_path("params", optional=True)
        check.real("embedding_scale", above=0, maximum=100, optional=True)
        check.boolean("in_memory", optional=True)
        check.real("memory_budget_gb", minimum=0, optional=True)
        check.existing_path("warm_start_from", optional=True, folder=True)
        check.choice("distribution", STRATEGIES)
        check.real("ps_shard_mb", above=0)

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget_gb is None else int(self.memory_budget_gb * 1e9)

    @property
    def resolved_model_dir(self) -> str:
        return self.model_dir or os.environ.get("AIP_MODEL_DIR") or os.path.join(self.job_dir, "model")

    def overrides(self) -> dict[str, Any]:
        """Model settings given here, which replace the spec's."""
        return {k: getattr(self, k) for k in ("epochs", "batch_size", "learning_rate", "hidden_units")
                if getattr(self, k) is not None}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str, **fixed: Any) -> "TrainConfig":
        """A config from user-written settings (a retrain config's `train:`); an unknown key is an error naming it.

        `fixed` are the settings the caller decides (input, job_dir, ...), which the mapping may not set.
        """
        allowed = sorted(f.name for f in dataclasses.fields(cls) if f.name not in fixed)
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
        return cls(**{**values, **fixed})


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """One embedding-dimension search (`embedflow tune`): the grid's axes and the settings of every trial."""

    input: str  # a complete preprocess output folder
    output: str  # search folder: trials, report, best_params.yaml
    factors: tuple[float, ...] | None = None  # scales of the auto dimensions (None: trainer/tune.py's default)
    dims: tuple[int, ...] | None = None  # explicit dimensions of the primary feature instead of factors
    hidden_units: tuple[tuple[int, ...], ...] | None = None  # architectures to try
    learning_rates: tuple[float, ...] | None = None
    epochs: int | None = None
    seed: int = 42
    batch_size: int | None = None

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        check.text("input")
        check.output_folder("output")
        check.reals("factors", above=0, optional=True)
        check.integers("dims", optional=True)
        check.integers("hidden_units", optional=True, nested=True)
        check.reals("learning_rates", above=0, optional=True)
        check.integer("epochs", minimum=1, optional=True)
        check.integer("seed", minimum=0, maximum=MAX_SEED)
        check.integer("batch_size", minimum=1, optional=True)
