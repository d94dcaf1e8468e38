"""Training past one process: the cluster read from TF_CONFIG, the strategy it picks, and two real workers."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ASYNC_RMSE_NOISE, BRIEF_EPOCHS, assert_equivalent_models
from stage_contracts.errors import UserError
from trainer.distribution import Cluster, evaluation_shards, local_worker_hosts, resolve

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


def test_a_parameter_servers_validation_is_dealt_out_in_shards_of_files_as_keras_auto_would():
    assert evaluation_shards("parameter_server", _cluster(VERTEX_TF_CONFIG), files=64) == 10  # 5 a worker
    assert evaluation_shards("parameter_server", _cluster(VERTEX_TF_CONFIG), files=1) == 1  # no more than the files
    assert evaluation_shards("multi_worker", _cluster(WORKERS_ONLY), files=64) == 0  # exact evaluation is PS-only


@pytest.mark.parametrize("environ,kind,named", [
    ({"TF_CONFIG": "{not json"}, "auto", "TF_CONFIG"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps"}})}, "auto", "'ps'"),
    ({}, "parameter_server", "ps"),
    ({}, "multi_worker", "TF_CONFIG"),
])
def test_a_cluster_that_cannot_run_the_strategy_is_refused_naming_why(environ, kind, named):
    with pytest.raises(UserError, match=named):
        resolve(kind, Cluster.from_env(environ))


def _start_task(command: list[str], cluster: dict, task_type: str, index: int, folder) -> subprocess.Popen:
    """One task of a local cluster: `command` with TF_CONFIG naming its place, its output in <folder>/<task>.log."""
    env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}
    with open(folder / f"{task_type}{index}.log", "w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _logs(folder) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.glob("*.log"))}


def _train_command(preprocessed, folder, *extra: str) -> list[str]:
    return [sys.executable, "-m", "trainer.task", "--input", preprocessed[0], "--job-dir", str(folder / "job"),
            "--model-dir", str(folder / "model"), "--seed", "3", "--epochs", str(BRIEF_EPOCHS), *extra]


def _only_version(model_dir) -> tuple[str, dict]:
    versions = os.listdir(model_dir)
    assert len(versions) == 1, versions  # the chief alone exports
    version = os.path.join(model_dir, versions[0])
    with open(os.path.join(version, "metrics.json")) as f:
        return version, json.load(f)


@pytest.mark.slow  # two training processes, each starting TensorFlow and a gRPC server
def test_two_workers_on_this_machine_train_the_same_model_as_one_process(preprocessed, trained_briefly, tmp_path):
    """Two processes with TF_CONFIG (MultiWorkerMirroredStrategy, gradients all-reduced over 127.0.0.1), as Vertex
    AI runs two replicas: the chief exports a model equivalent to the single process's; the other worker none."""
    cluster = {"worker": local_worker_hosts(2)}
    command = _train_command(preprocessed, tmp_path)
    workers = [_start_task(command, cluster, "worker", index, tmp_path) for index in range(2)]
    for process in workers:
        process.wait(timeout=900)
    logs = _logs(tmp_path)
    assert [p.returncode for p in workers] == [0, 0], logs
    assert "Exported" in logs["worker0.log"] and "the chief evaluates and exports" in logs["worker1.log"]
    version, metrics = _only_version(tmp_path / "model")
    assert_equivalent_models(version, metrics, trained_briefly.version_dir, trained_briefly.metrics)


# The sample's id tables (400-800 rows of 32 floats: 51-102 KB) are split over both ps tasks; genres' (336 bytes) not.
SHARD_MB = 0.02


@pytest.mark.slow  # five training processes: chief, two workers, two parameter servers
def test_a_parameter_server_cluster_trains_with_its_tables_sharded_over_the_ps_tasks(preprocessed, trained_briefly,
                                                                                    tmp_path):
    """A chief (the coordinator), two workers and two parameter servers, each `python -m trainer.task` with
    TF_CONFIG as Vertex AI writes it: the workers run the steps the chief schedules on input they read themselves,
    the embedding tables bigger than --ps-shard-mb live in shards on both ps tasks, and the chief exports a model
    equivalent to the single process's (same signatures, loaded here; metrics within noise)."""
    hosts = iter(local_worker_hosts(5))
    cluster = {role: [next(hosts) for _ in range(n)] for role, n in (("chief", 1), ("worker", 2), ("ps", 2))}
    command = _train_command(preprocessed, tmp_path, "--distribution", "parameter_server", "--ps-shard-mb",
                             str(SHARD_MB))
    servers = [_start_task(command, cluster, role, index, tmp_path) for role in ("ps", "worker") for index in range(2)]
    try:
        chief = _start_task(command, cluster, "chief", 0, tmp_path)
        chief.wait(timeout=900)
    finally:
        for server in servers:  # they serve until the job ends (Vertex AI stops their pools)
            server.kill()
            server.wait()
    assert chief.returncode == 0, _logs(tmp_path)
    version, metrics = _only_version(tmp_path / "model")
    devices = metrics["distribution"]["table_devices"]
    ps_tasks = {f"/job:ps/replica:0/task:{i}/device:CPU:0" for i in range(2)}
    for table in ("user_id", "movie_id"):
        assert len(devices[table]) == 2 and set(devices[table]) == ps_tasks, devices
    assert len(devices["genres"]) == 1 and devices["genres"][0] in ps_tasks, devices
    losses = metrics["history"]["loss"]
    assert losses[-1] < losses[0], losses
    assert_equivalent_models(version, metrics, trained_briefly.version_dir, trained_briefly.metrics, ASYNC_RMSE_NOISE)


@pytest.mark.parametrize("splits", [("train",), ("train", "eval")])
def test_workers_shares_of_the_input_split_it_between_them(preprocessed, splits):
    """Two workers' shares of the fit part (by record with one file, by file with two) are disjoint and together
    the whole of it, so a parameter-server epoch reads each example once however the steps fall."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from trainer.data import make_dataset, split_files

    files = [f for split in splits for f in split_files(preprocessed[0], split)]
    feature_spec = tft.TFTransformOutput(preprocessed[0]).transformed_feature_spec()

    def rows(shard=None):
        return [row for features, label in make_dataset(files, feature_spec, "rating", 4096, part="fit", fold_seed=3,
                                                         shard=shard)
                for row in zip(features["user_id"].numpy(), features["movie_id"].numpy(),
                               tf.reshape(label, [-1]).numpy())]

    shares = [rows((2, index)) for index in range(2)]
    assert all(shares) and sorted(shares[0] + shares[1]) == sorted(rows())
