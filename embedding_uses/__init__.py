"""The uses of trained vectors: the index of a model version's embeddings (similar items, recommendations), the
exact top-K scan, neighbours, the ranking score and the pictures of the embedding space.

Imported by the trainer (evaluation scores with the same top-K and ranking score the uses serve), by the Beam job
`recommend-all` and by the command line; it imports neither of the first two, and no Beam.  `stage_contracts` is
imported first: it sets TensorFlow's environment before TensorFlow loads.
"""

import stage_contracts  # noqa: F401
