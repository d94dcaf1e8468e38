"""`embedflow train --vertex`: the same training run as a Vertex AI CustomJob, built offline, submitted when asked.

The job runs the trainer's image (vertex/Dockerfile: the wheel, entry point
`python -m trainer.task`) with the train command's own flags, in worker
pools Vertex AI turns into TF_CONFIG: pool 0 is the chief (it evaluates and
exports), pool 1 the other workers, pool 2 the parameter servers
(trainer/distribution.py picks the strategy from that cluster).  The job's
base output directory is `--job-dir`, so Vertex AI sets AIP_MODEL_DIR to
`<job-dir>/model`, where the chief exports.  `--dry_run` prints the job's
REST body (what `projects.locations.customJobs.create` takes) without
credentials or network, as the Dataflow dry run builds the Beam job.

This module imports neither TensorFlow nor a Google client, so the dry run
and `--help` stay instant; submitting imports google-cloud-aiplatform.
"""

from __future__ import annotations

import dataclasses
import json

from stage_contracts.arguments import FieldChecks, is_remote
from stage_contracts.errors import UserError
from trainer.config import TrainConfig

# Built and pushed from vertex/Dockerfile (docs/scaling-training.md, "On Vertex AI").
DEFAULT_IMAGE = "{region}-docker.pkg.dev/{project}/embedflow/trainer:latest"
_POOL_CHIEF, _POOL_WORKERS, _POOL_PS = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class VertexJob:
    """Where and on what a training run goes to Vertex AI: project, region, image and the worker pools' shapes."""

    project: str
    region: str
    image: str | None = None  # default: DEFAULT_IMAGE in the project's Artifact Registry
    machine_type: str = "n1-standard-8"
    accelerator_type: str | None = None  # e.g. NVIDIA_TESLA_T4, NVIDIA_L4
    accelerator_count: int = 1  # per replica, with accelerator_type
    workers: int = 1  # replicas that train, the chief included (more than 1: MultiWorkerMirroredStrategy)
    parameter_servers: int = 0  # ps replicas holding sharded embedding tables (ParameterServerStrategy)
    ps_machine_type: str = "n1-highmem-16"  # parameter servers hold tables: memory, not accelerators
    display_name: str = "embedflow-train"
    dry_run: bool = False  # print the job, do not submit it

    def __post_init__(self) -> None:
        check = FieldChecks(self)
        for name in ("project", "region", "machine_type", "ps_machine_type", "display_name"):
            check.text(name)
        check.text("image", optional=True)
        check.text("accelerator_type", optional=True)
        check.integer("accelerator_count", minimum=1)
        check.integer("workers", minimum=1)
        check.integer("parameter_servers", minimum=0)
        check.boolean("dry_run")
        if self.parameter_servers and self.workers < 2:
            check.fail("workers", "at least 2 with parameter servers (the chief coordinates, workers run the steps)")

    @property
    def image_uri(self) -> str:
        return self.image or DEFAULT_IMAGE.format(region=self.region, project=self.project)

    @property
    def distribution(self) -> str:
        """The strategy the pools ask for (the trainer's "auto" would pick the same from TF_CONFIG)."""
        if self.parameter_servers:
            return "parameter_server"
        if self.workers > 1:
            return "multi_worker"
        return "mirrored" if self.accelerator_type and self.accelerator_count > 1 else "none"


def container_args(config: TrainConfig, extra: tuple[str, ...] = ()) -> list[str]:
    """The train command's flags that reproduce `config` inside the job (settings left at their defaults are left
    out; the model goes to AIP_MODEL_DIR, which Vertex AI sets)."""
    defaults = TrainConfig(input=config.input)
    args = []
    for field in dataclasses.fields(TrainConfig):
        value = getattr(config, field.name)
        if field.name in ("model_dir", "hidden_units", "warm_start_from"):
            if value is not None:
                raise UserError(f"--vertex: {field.name} cannot be sent to a Vertex AI job from this command; "
                                "put model settings in a params file (--params gs://...)")
            continue
        if value == getattr(defaults, field.name) and field.name not in ("input", "job_dir"):
            continue
        flag = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            args.append(f"{flag}={','.join(value)}")
        else:
            args.append(f"{flag}={value}")
    return args + list(extra)


def custom_job(job: VertexJob, config: TrainConfig, extra_args: tuple[str, ...] = ()) -> dict:
    """The CustomJob REST body: worker pools (chief, workers, parameter servers) running the trainer's image."""
    for name in ("input", "job_dir", "params"):
        value = getattr(config, name)
        if value is not None and not is_remote(value):
            raise UserError(f"--vertex: --{name.replace('_', '-')} {value} is a local path; a Vertex AI job reads "
                            "and writes Cloud Storage (gs://...)")
    if config.distribution not in ("auto", job.distribution):
        raise UserError(f"--vertex: --distribution {config.distribution} does not match the pools asked for "
                        f"({job.workers} worker(s), {job.parameter_servers} parameter server(s): {job.distribution})")
    train = dataclasses.replace(config, distribution=job.distribution)
    args = container_args(train, extra_args)
    machine = {"machineType": job.machine_type}
    if job.accelerator_type:
        machine.update(acceleratorType=job.accelerator_type, acceleratorCount=job.accelerator_count)
    pools = {_POOL_CHIEF: _pool(machine, 1, job.image_uri, args)}
    if job.workers > 1:
        pools[_POOL_WORKERS] = _pool(machine, job.workers - 1, job.image_uri, args)
    if job.parameter_servers:
        pools[_POOL_PS] = _pool({"machineType": job.ps_machine_type}, job.parameter_servers, job.image_uri, args)
    return {
        "displayName": job.display_name,
        "jobSpec": {
            "workerPoolSpecs": [pools[i] for i in sorted(pools)],
            "baseOutputDirectory": {"outputUriPrefix": config.job_dir},
        },
    }


def _pool(machine: dict, replicas: int, image: str, args: list[str]) -> dict:
    return {"machineSpec": machine, "replicaCount": replicas, "diskSpec": {"bootDiskSizeGb": 100},
            "containerSpec": {"imageUri": image, "args": args}}


def describe(job: VertexJob, body: dict) -> str:
    """The dry run's printout: where the job would go, then its REST body."""
    parent = f"projects/{job.project}/locations/{job.region}"
    return (f"Vertex AI CustomJob (dry run, not submitted) for {parent}: {job.workers} worker(s), "
            f"{job.parameter_servers} parameter server(s), --distribution {job.distribution}\n"
            + json.dumps(body, indent=2))


def submit(job: VertexJob, body: dict) -> str:
    """Create the job on Vertex AI; returns its resource name."""
    try:
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format
    except ImportError:
        raise UserError("Submitting to Vertex AI needs google-cloud-aiplatform: pip install 'embedflow[vertex]' "
                        "(or print the job with --dry_run and create it with gcloud ai custom-jobs create)") from None
    client = aiplatform_v1.JobServiceClient(client_options={"api_endpoint": f"{job.region}-aiplatform.googleapis.com"})
    message = json_format.ParseDict(body, aiplatform_v1.CustomJob()._pb)
    created = client.create_custom_job(parent=f"projects/{job.project}/locations/{job.region}",
                                       custom_job=aiplatform_v1.CustomJob.wrap(message))
    return created.name
