"""The feature spec and what both stages share: errors, transform and model kinds, the raw schema, the TF part
of the preprocessing function and the preprocess output's manifest.  Nothing here imports Apache Beam, so a
training job needs no Beam.

Importing the package first quiets TensorFlow's C++ start-up chatter and pins Keras 2 (tf_keras), which
TFT's Keras layer needs; both are read when TensorFlow is first imported, and a user's own setting wins.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
