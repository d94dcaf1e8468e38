"""The feature spec and its kinds: the spec reader, transform kinds, derivations, model types, the statistics a
kind needs, the raw schema and the TF part of the preprocessing function, the label check and the stable
train/eval split.
Nothing here imports Apache Beam, so a training job needs no Beam.

`stage_contracts` is imported first: it sets TensorFlow's environment before TensorFlow loads.
"""

import stage_contracts  # noqa: F401
