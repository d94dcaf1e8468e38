"""The trainer: input, models, training, evaluation, export and the uses of embeddings.  Imports no Beam.

`stage_contracts` is imported first: it sets TensorFlow's environment (quiet start-up, Keras 2) before TensorFlow loads.
"""

import stage_contracts  # noqa: F401
