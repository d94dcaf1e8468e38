"""Operations: scheduled retraining (spans in, checks, preprocess, train, the gate, promotion, rollback), the gate
as data, the checks of each new span and the cutting of one big file into spans.

It drives the stages below it (beam_jobs, trainer, embedding_uses) and is driven by the command line; it imports
no command-line module.  `stage_contracts` is imported first: it sets TensorFlow's environment before TensorFlow
loads.
"""

import stage_contracts  # noqa: F401
