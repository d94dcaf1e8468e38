"""Where training runs: one process, every device of one machine, or a cluster of processes described by TF_CONFIG.

The model is the same in each case; only the `tf.distribute` strategy whose
scope builds it changes, so a user who outgrows one machine changes a flag,
as with Beam's runners:

- "none": TensorFlow's default strategy (one process, one device).
- "mirrored": `MirroredStrategy`, a replica per local GPU, gradients
  all-reduced each step (one machine with several GPUs).
- "multi_worker": `MultiWorkerMirroredStrategy`, a replica per worker of
  the TF_CONFIG cluster (the chief and the workers), each reading its shard
  of the input; gradients all-reduced over the network.
- "parameter_server": `ParameterServerStrategy` for catalogues whose
  embedding tables do not fit one worker: the tables are split over the
  "ps" tasks in shards of at least `--ps-shard-mb`, workers run steps
  the chief (the coordinator) schedules, on input they stream from their
  share of the TFRecords (trainer/data.py: `worker_fit_fn`).  Worker and
  ps tasks only serve (`serve_forever`); the chief runs `train`.
- "auto" (default): "parameter_server" when TF_CONFIG names ps tasks,
  "multi_worker" when it names more than one worker, "mirrored" with
  several local GPUs, else "none".

Vertex AI sets TF_CONFIG for a job of several replicas (its first worker
pool is the "chief"); locally, set it by hand (tests/test_distribution.py
runs two workers on 127.0.0.1).  Whatever the strategy, only the chief
evaluates, exports and draws the run report.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
from typing import Mapping

import tensorflow as tf

from stage_contracts.errors import UserError

log = logging.getLogger(__name__)
_WORKER_ROLES = ("chief", "worker")  # tasks that train (MultiWorkerMirroredStrategy's replicas)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """This process's place in a training cluster: its task in TF_CONFIG and the cluster's size."""

    task_type: str | None = None  # "chief", "worker", "ps" or "evaluator"; None without TF_CONFIG
    task_index: int = 0
    workers: int = 1  # tasks that train: the chief and the workers
    parameter_servers: int = 0
    has_chief: bool = False  # a "chief" task in the cluster (Vertex AI's first pool); else worker 0 leads

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Cluster":
        """The cluster TF_CONFIG describes (one process when it is unset or names no cluster)."""
        text = environ.get("TF_CONFIG", "").strip()
        if not text:
            return cls()
        try:
            config = json.loads(text)
            cluster, task = config.get("cluster") or {}, config.get("task") or {}
            counts = {role: len(cluster.get(role) or []) for role in ("chief", "worker", "ps")}
            task_type, task_index = task.get("type"), int(task.get("index", 0))
        except (ValueError, TypeError, AttributeError) as e:
            raise UserError(f"TF_CONFIG is not a cluster description ({e}): expected JSON like "
                            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}') \
                from None
        if cluster and task_type not in cluster:
            raise UserError(f"TF_CONFIG: task type {task_type!r} is not in its cluster ({', '.join(cluster)})")
        return cls(task_type, task_index, max(counts["chief"] + counts["worker"], 1), counts["ps"],
                   counts["chief"] > 0)

    @property
    def is_chief(self) -> bool:
        """The task that evaluates and exports: the chief, or worker 0 in a cluster without one (as Keras decides)."""
        if self.task_type in (None, "chief"):
            return True
        return self.task_type == "worker" and self.task_index == 0 and not self.has_chief

    @property
    def trains(self) -> bool:
        """Whether this task runs `train` (ps tasks, and workers under a parameter server, only serve)."""
        return self.task_type in (None, *_WORKER_ROLES)

    def describe(self) -> str:
        if self.task_type is None:
            return "one process"
        ps = f" and {self.parameter_servers} parameter server(s)" if self.parameter_servers else ""
        return f"{self.task_type} {self.task_index} of a cluster of {self.workers} worker(s){ps}"


def resolve(kind: str, cluster: Cluster, local_gpus: int | None = None) -> str:
    """The strategy "auto" stands for here (other kinds as given, after checking the cluster allows them)."""
    if kind == "auto":
        if cluster.parameter_servers:
            return "parameter_server"
        if cluster.workers > 1:
            return "multi_worker"
        gpus = len(tf.config.list_physical_devices("GPU")) if local_gpus is None else local_gpus
        return "mirrored" if gpus > 1 else "none"
    if kind == "parameter_server" and not cluster.parameter_servers:
        raise UserError("--distribution parameter_server needs a TF_CONFIG cluster with \"ps\" tasks (Vertex AI: "
                        "a parameter-server worker pool)")
    if kind == "multi_worker" and cluster.task_type is None:
        raise UserError("--distribution multi_worker needs TF_CONFIG (Vertex AI sets it for a job with several "
                        "replicas)")
    return kind


def make_strategy(kind: str, cluster: Cluster, ps_shard_bytes: int) -> tf.distribute.Strategy:
    """The strategy of a resolved kind.  Create it first thing in the process: collective ops are configured when
    TensorFlow's runtime starts, and MultiWorkerMirroredStrategy refuses a runtime already started."""
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
        min_shard_bytes=ps_shard_bytes, max_shards=cluster.parameter_servers)
    return tf.distribute.experimental.ParameterServerStrategy(resolver, variable_partitioner=partitioner)


def evaluation_shards(kind: str, cluster: Cluster, files: int) -> int:
    """Shards a parameter server's exact evaluation deals the validation files out in: Keras' "auto" (5 per
    worker), but no more than the files, since each shard is a share of them (0 for the other strategies)."""
    if kind != "parameter_server":
        return 0
    return max(1, min(files, 5 * (cluster.workers - cluster.has_chief)))


def table_devices(tables: Mapping[str, tf.Variable]) -> dict[str, list[str]]:
    """Where each table's rows live: the device of each of its shards (one, for a table that was not split)."""
    return {name: [shard.device for shard in getattr(table, "variables", [table])] for name, table in tables.items()}


def serve_forever(cluster: Cluster) -> None:
    """A ps task, or a worker under a parameter server: host variables or run the steps the chief sends, until the
    job ends (Vertex AI stops these pools when the chief exits)."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    log.info("Serving as %s (the chief trains)", cluster.describe())
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol=resolver.rpc_layer or "grpc", start=True)
    server.join()


def local_worker_hosts(n: int) -> list[str]:
    """`n` free host:port addresses on 127.0.0.1, for a cluster of local processes (bench/distributed.py, tests)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    hosts = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return hosts
