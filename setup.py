"""Packaging shim for Dataflow workers.

Dataflow stages a pipeline's code with `--setup_file ./setup.py` and runs
`python setup.py sdist` to build it; the metadata itself lives in
pyproject.toml.  `embedflow preprocess --runner DataflowRunner` passes this
file automatically unless a custom container is given.
"""

import setuptools

setuptools.setup()
