"""The `embedflow` command, the demo and scheduled retraining.

`features` is imported first: it sets TensorFlow's environment (quiet start-up, Keras 2) before TensorFlow loads.
"""

import features  # noqa: F401
