"""The Beam jobs: readers and validation, the preprocess pipeline, batch recommendations, sample data.

`stage_contracts` is imported first: it sets TensorFlow's environment before TensorFlow loads.
"""

import stage_contracts  # noqa: F401
