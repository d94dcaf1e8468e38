"""The Beam jobs: readers and validation, the preprocess pipeline, batch recommendations, sample data.

`features` is imported first: it sets TensorFlow's environment before TensorFlow loads.
"""

import features  # noqa: F401
