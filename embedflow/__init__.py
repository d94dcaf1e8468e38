"""embedflow: Beam/TFT feature engineering and embedding models; the Python API (see embedflow/api.py).

Names load on first use, so `import embedflow` stays fast and imports neither
TensorFlow nor Beam.  No submodule shares a name with an API function (a
submodule's import would replace the function on the package).
"""

import importlib

import stage_contracts  # noqa: F401  (sets TensorFlow's environment before anything imports it)

# public name -> module that defines it
_EXPORTS = {
    **{name: "embedflow.api" for name in ("sample_data", "preprocess", "train", "describe", "statistics", "similar",
                                          "recommend", "Preprocessed", "Item")},
    "PreprocessConfig": "beam_jobs.config",
    "TrainConfig": "trainer.config",
    "RatingsSample": "embedflow.sample_tables",
    "HousingSample": "embedflow.sample_tables",
    "UserError": "stage_contracts.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'embedflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
