"""A newcomer's first contact: `embedflow COMMAND --help` is instant and silent, TensorFlow starts quietly."""

import os
import re
import subprocess
import sys

from embedflow import cli
from stage_contracts import quiet

# What TensorFlow's C++ start-up prints on a CPU machine (absl/TF log lines, its absl warning).
TF_CPP_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuInit|oneDNN|cpu_feature_guard|cuda", re.MULTILINE)

HELP_IN_A_FRESH_PROCESS = """
import sys
from embedflow.cli import main
try:
    main([sys.argv[1], "--help"])
except SystemExit:
    pass
heavy = sorted(m for m in ("tensorflow", "apache_beam", "tensorflow_transform") if m in sys.modules)
print("IMPORTED:" + ",".join(heavy))
"""


def test_every_subcommand_help_imports_no_tensorflow_nor_beam():
    for command in cli.SUBCOMMANDS:
        done = subprocess.run([sys.executable, "-c", HELP_IN_A_FRESH_PROCESS, command], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, (command, done.stderr)
        assert f"usage: embedflow {command}" in done.stdout, command
        assert done.stdout.rstrip().endswith("IMPORTED:"), (command, done.stdout[-200:])
        assert not TF_CPP_LINE.search(done.stderr), (command, done.stderr)


def test_module_entry_point_imports_tensorflow_without_its_cpp_start_up_lines():
    """`python -m trainer.task` imports TensorFlow at the top; its C++ start-up stays silent."""
    done = subprocess.run([sys.executable, "-c", "import trainer.task, tensorflow as tf; print(int(tf.constant(1) + 1))"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr
    assert not TF_CPP_LINE.search(done.stderr), done.stderr


VERBOSE_SETTINGS = """
import os, sys
from embedflow import cli
from stage_contracts import quiet
cli.set_verbosity_environment(cli.VERBOSE)
hooked = any(isinstance(f, quiet._QuietTensorFlowImport) for f in sys.meta_path)
print(os.environ["TF_CPP_MIN_LOG_LEVEL"], os.environ[quiet.VERBOSE_ENV], hooked)
"""


def test_verbosity_flags():
    assert cli.verbosity_of(["train", "--input", "x", "-q"]) == cli.QUIET
    assert cli.verbosity_of(["-v", "train"]) == cli.VERBOSE
    assert cli.verbosity_of(["train"]) == cli.NORMAL
    # -v undoes the quiet start-up that importing the package set up (TensorFlow not yet loaded)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", quiet.VERBOSE_ENV)}
    done = subprocess.run([sys.executable, "-c", VERBOSE_SETTINGS], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.stdout.split() == ["0", "1", "False"], done.stderr
    done = subprocess.run([sys.executable, "-c", VERBOSE_SETTINGS], capture_output=True, text=True, timeout=60,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.stdout.split()[0] == "2"  # a user's own setting wins
