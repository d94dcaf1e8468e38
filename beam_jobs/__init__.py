"""Quiet TensorFlow's C++ start-up chatter and pin Keras 2 (tf_keras), which TFT's Keras layer needs.

Set before TensorFlow is first imported; a user's own setting wins.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
