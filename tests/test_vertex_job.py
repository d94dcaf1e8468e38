"""`embedflow train --vertex`: the Vertex AI CustomJob built offline, as the Dataflow dry run builds the Beam job."""

import contextlib
import dataclasses
import io
import json

import pytest

from embedflow import cli
from embedflow.commands import train as train_command
from stage_contracts.errors import UserError
from trainer.config import TrainConfig

TRAIN = ["train", "--input", "gs://my-bucket/prep/2026-12-06", "--job-dir", "gs://my-bucket/jobs/2026-12-06",
         "--epochs", "4", "--no-in-memory", "--memory-budget-gb", "12"]
VERTEX = ["--vertex", "--project", "my-project", "--region", "europe-west4", "--dry_run"]


def dry_run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def printed_job(out: str) -> dict:
    return json.loads(out[out.index("{"):])


def test_the_dry_run_prints_a_multi_worker_job_with_the_trainer_image_and_the_run_s_flags():
    code, out, _ = dry_run([*TRAIN, *VERTEX, "--workers", "3", "--accelerator-type", "NVIDIA_L4",
                            "--hypertune-metric", "rmse"])
    assert code == 0 and "not submitted" in out
    job = printed_job(out)["jobSpec"]
    chief, workers = job["workerPoolSpecs"]
    assert (chief["replicaCount"], workers["replicaCount"]) == (1, 2)  # the chief, then the other workers
    assert chief["machineSpec"] == {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_L4",
                                    "acceleratorCount": 1}
    assert chief["containerSpec"]["imageUri"] == "europe-west4-docker.pkg.dev/my-project/embedflow/trainer:latest"
    assert job["baseOutputDirectory"] == {"outputUriPrefix": "gs://my-bucket/jobs/2026-12-06"}  # AIP_MODEL_DIR below
    args = chief["containerSpec"]["args"]
    assert "--distribution=multi_worker" in args and "--hypertune-metric=rmse" in args
    # The job's flags rebuild this run's config: the same settings, with the strategy its pools ask for.
    parsed = cli.build_parser("train").parse_args(["train", *args])
    asked = train_command.config_from_args(cli.build_parser("train").parse_args(TRAIN))
    assert train_command.config_from_args(parsed) == dataclasses.replace(asked, distribution="multi_worker")


def test_parameter_servers_get_their_own_pool_and_strategy():
    code, out, _ = dry_run([*TRAIN, *VERTEX, "--workers", "2", "--parameter-servers", "2", "--image", "gcr.io/p/t:1"])
    assert code == 0
    pools = printed_job(out)["jobSpec"]["workerPoolSpecs"]
    assert [p["replicaCount"] for p in pools] == [1, 1, 2]
    assert pools[2]["machineSpec"] == {"machineType": "n1-highmem-16"}
    assert all(p["containerSpec"]["imageUri"] == "gcr.io/p/t:1" for p in pools)
    assert "--distribution=parameter_server" in pools[0]["containerSpec"]["args"]


@pytest.mark.parametrize("argv,named", [
    ([*TRAIN[:2], "runs/prep", *TRAIN[3:], *VERTEX], "--input runs/prep is a local path"),
    ([*TRAIN, *VERTEX, "--parameter-servers", "1"], "--workers must be at least 2 with parameter servers"),
    ([*TRAIN, *VERTEX, "--workers", "2", "--distribution", "none"], "--distribution none does not match"),
    ([*TRAIN, "--vertex", "--region", "r", "--dry_run"], "--project"),
    ([*TRAIN, "--workers", "2"], "--workers is a Vertex AI flag: add --vertex"),
])
def test_a_job_vertex_ai_cannot_run_is_refused_before_anything_is_built(argv, named):
    code, out, err = dry_run(argv)
    assert code == 2 and named in err and "Traceback" not in err and out == "", err


def test_settings_with_no_flag_cannot_be_sent_silently():
    from trainer.vertex_job import container_args

    with pytest.raises(UserError, match="hidden_units"):
        container_args(TrainConfig(input="gs://b/p", hidden_units=(64, 32)))


def test_the_printed_job_is_what_vertex_ai_s_api_accepts():
    aiplatform_v1 = pytest.importorskip("google.cloud.aiplatform_v1")
    from google.protobuf import json_format

    code, out, _ = dry_run([*TRAIN, *VERTEX, "--workers", "3", "--parameter-servers", "2"])
    job = json_format.ParseDict(printed_job(out), aiplatform_v1.CustomJob()._pb)  # unknown or mistyped fields raise
    assert [pool.replica_count for pool in job.job_spec.worker_pool_specs] == [1, 2, 2]
    assert job.job_spec.base_output_directory.output_uri_prefix == "gs://my-bucket/jobs/2026-12-06"
