"""Training past one process: the cluster read from TF_CONFIG, the strategy it picks, and two real workers."""

import json
import os
import subprocess
import sys

import pytest

from conftest import BRIEF_EPOCHS, assert_equivalent_models
from features.errors import UserError
from trainer.distribution import Cluster, local_worker_hosts, resolve

VERTEX_TF_CONFIG = {"cluster": {"chief": ["c:2222"], "worker": ["w0:2222", "w1:2222"], "ps": ["p0:2222", "p1:2222"]},
                    "task": {"type": "worker", "index": 0}}
WORKERS_ONLY = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}


def _cluster(config: dict) -> Cluster:
    return Cluster.from_env({"TF_CONFIG": json.dumps(config)})


def test_the_cluster_and_its_chief_come_from_tf_config_as_vertex_ai_writes_it():
    cluster = _cluster(VERTEX_TF_CONFIG)
    assert (cluster.workers, cluster.parameter_servers) == (3, 2)
    assert not cluster.is_chief  # Vertex AI's first pool is the chief, so worker 0 is not
    assert _cluster({**VERTEX_TF_CONFIG, "task": {"type": "chief", "index": 0}}).is_chief
    assert _cluster(WORKERS_ONLY).is_chief  # without a chief, worker 0 leads (Keras' rule)
    assert not _cluster({**WORKERS_ONLY, "task": {"type": "worker", "index": 1}}).is_chief
    assert not _cluster({**VERTEX_TF_CONFIG, "task": {"type": "ps", "index": 0}}).trains
    assert Cluster.from_env({}) == Cluster() and Cluster().is_chief


def test_auto_picks_the_strategy_the_cluster_and_devices_call_for():
    assert resolve("auto", _cluster(VERTEX_TF_CONFIG)) == "parameter_server"
    assert resolve("auto", _cluster(WORKERS_ONLY)) == "multi_worker"
    assert resolve("auto", Cluster(), local_gpus=4) == "mirrored"
    assert resolve("auto", Cluster(), local_gpus=1) == "none"
    assert resolve("mirrored", Cluster(), local_gpus=0) == "mirrored"  # one replica: runs, as on a 1-GPU machine


@pytest.mark.parametrize("environ,kind,named", [
    ({"TF_CONFIG": "{not json"}, "auto", "TF_CONFIG"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps"}})}, "auto", "'ps'"),
    ({}, "parameter_server", "ps"),
    ({}, "multi_worker", "TF_CONFIG"),
])
def test_a_cluster_that_cannot_run_the_strategy_is_refused_naming_why(environ, kind, named):
    with pytest.raises(UserError, match=named):
        resolve(kind, Cluster.from_env(environ))


def test_two_workers_on_this_machine_train_the_same_model_as_one_process(preprocessed, trained_briefly, tmp_path):
    """Two processes with TF_CONFIG (MultiWorkerMirroredStrategy, gradients all-reduced over 127.0.0.1), as Vertex
    AI runs two replicas: the chief exports a model equivalent to the single process's; the other worker none."""
    hosts = local_worker_hosts(2)
    model_dir = tmp_path / "model"
    command = [sys.executable, "-m", "trainer.task", "--input", preprocessed[0], "--job-dir", str(tmp_path / "job"),
               "--model-dir", str(model_dir), "--seed", "3", "--epochs", str(BRIEF_EPOCHS)]
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": hosts},
                                                      "task": {"type": "worker", "index": index}})}
        log = open(tmp_path / f"worker{index}.log", "w")
        workers.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    for process, log in workers:
        process.wait(timeout=900)
        log.close()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert [p.returncode for p, _ in workers] == [0, 0], logs
    assert "Exported" in logs[0] and "the chief evaluates and exports" in logs[1]
    versions = os.listdir(model_dir)
    assert len(versions) == 1, versions  # the chief alone exports
    version = os.path.join(model_dir, versions[0])
    with open(os.path.join(version, "metrics.json")) as f:
        metrics = json.load(f)
    assert_equivalent_models(version, metrics, trained_briefly.version_dir, trained_briefly.metrics)
