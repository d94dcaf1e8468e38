"""What reaches the terminal: the product's own lines (and Keras' one line per epoch), nothing from the libraries.

Each command and the Python API's example run in a fresh process, as a user
runs them; any stderr line that is not one of ours fails the test, with the
line in the message (Beam's "Tags {'stats'} requested in with_outputs()",
TensorFlow's retracing and Keras serialization warnings, the Dataflow dry
run's sdist build lines and credential retries).
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCT_LINE = re.compile(r"^\d\d:\d\d:\d\d (INFO|WARNING) "
                          r"(embedflow|beam_jobs|trainer|features|stage_contracts|embedding_uses|retraining)[\w.]*: ")


def _run(args: list[str], cwd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("EMBEDFLOW_VERBOSE", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def _foreign_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not PRODUCT_LINE.match(line)]


@pytest.fixture(scope="module")
def commands_run(ratings_sample, tmp_path_factory):
    """Every everyday command once, in order, on the sample: (argv, completed process) each."""
    work = str(tmp_path_factory.mktemp("terminal"))
    prep, job, model = (os.path.join(work, name) for name in ("prep", "job", os.path.join("job", "model")))
    runs = []

    def run(*argv: str) -> None:
        runs.append((argv, _run(["-m", "embedflow.cli", *argv], work)))
        assert runs[-1][1].returncode == 0, (argv, runs[-1][1].stderr[-3000:])

    run("preprocess", "-q", "--input", ratings_sample, "--output", prep)
    run("train", "--input", prep, "--job-dir", job, "--epochs", "1")
    version = os.path.join(model, next(v for v in os.listdir(model) if v.isdigit()))
    with open(os.path.join(version, "embeddings", "items.tsv")) as f:
        item = f.read().splitlines()[1].split("\t")[0]
    with open(os.path.join(version, "embeddings", "users.tsv")) as f:
        user = f.read().splitlines()[-1].split("\t")[0]
    run("describe", "--preprocessed", prep)
    run("similar", "--model", model, item, "-k", "3")
    run("recommend", "--model", model, "--user", user, "-k", "3")
    run("recommend-all", "--model", model, "--output", os.path.join(work, "recs"), "-k", "3")
    run("preprocess", "--input", ratings_sample, "--output", os.path.join(work, "dry"), "--runner", "DataflowRunner",
        "--project", "my-project", "--region", "europe-west1", "--temp_location", "gs://my-bucket/tmp", "--dry_run=True")
    # retrain's preprocess reads and writes TFT's analyzer cache (TFT once warned there about its own tables)
    os.makedirs(os.path.join(work, "spans"))
    os.symlink(ratings_sample, os.path.join(work, "spans", "2026-11-01"))
    with open(os.path.join(work, "retrain.yaml"), "w") as f:
        f.write("input_root: spans\nwork_dir: retrain\nmodel_dir: served\ntrain: {epochs: 1}\n")
    run("retrain", "--config", os.path.join(work, "retrain.yaml"))
    return runs


@pytest.mark.slow  # eight commands, each in a fresh process: preprocess, train and retrain among them
def test_each_command_prints_only_the_products_lines(commands_run):
    for argv, done in commands_run:
        assert not _foreign_lines(done.stderr), (argv, _foreign_lines(done.stderr))
    quiet = commands_run[0][1]
    assert quiet.stderr == "" and quiet.stdout == "", "preprocess -q prints nothing when all is well"
    train = commands_run[1][1]
    assert re.search(r"^\d+/\d+ - .* - val_recall_at_10: ", train.stdout, re.M)  # Keras' one line per epoch


@pytest.mark.slow  # a training run in a fresh process
def test_the_api_example_prints_only_the_products_lines_and_one_line_per_epoch(preprocessed, tmp_path):
    example = f"""
import embedflow as ef
run = ef.train(ef.TrainConfig(input={preprocessed[0]!r}, job_dir={str(tmp_path / 'job')!r}, epochs=2))
user = ef.recommend(run.version_dir, user="1", k=5)
ef.similar(run.version_dir, user[0].id, k=3)
ef.recommend(run.version_dir, history=[item.id for item in user], k=3)
"""
    done = _run(["-c", example], str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert not _foreign_lines(done.stderr), _foreign_lines(done.stderr)
    assert "trainer.export: Exported model version" in done.stderr  # the product's progress lines are shown
    assert re.search(r"Epoch 2/2\n.*val_recall_at_10", done.stdout)
