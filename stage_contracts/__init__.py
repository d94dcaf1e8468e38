"""What the stages hand each other and share: errors, the preprocess output's manifest and statistics, the model
dir (versions, the serving pointer, its atomic switch), the checks of what a user types, progress lines, Ctrl-C
and TensorFlow's start-up environment.  The lowest room: it imports no other package of the project, and neither
Beam nor a model.

Importing the package first sets TensorFlow's environment (stage_contracts/quiet.py: Keras 2, which TFT's Keras
layer needs, and a quiet start-up); it is read when TensorFlow is first imported, and a user's own setting wins.
Every package of the project imports this one first for that reason.
"""

from stage_contracts.quiet import configure_tensorflow

configure_tensorflow()
