"""The feature spec and what both stages share: errors, transform and model kinds, the raw schema, the TF part
of the preprocessing function and the preprocess output's manifest.  Nothing here imports Apache Beam, so a
training job needs no Beam.

Importing the package first sets TensorFlow's environment (features/quiet.py: Keras 2, which TFT's Keras layer
needs, and a quiet start-up); it is read when TensorFlow is first imported, and a user's own setting wins.
"""

from features.quiet import configure_tensorflow

configure_tensorflow()
