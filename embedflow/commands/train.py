"""`embedflow train` (and `python -m trainer.task`, Vertex AI's convention): flags -> a TrainConfig -> train()."""

from __future__ import annotations

import argparse
import dataclasses

from stage_contracts.arguments import from_namespace
from stage_contracts.errors import UserError
from trainer import vertex_job
from trainer.config import STRATEGIES, TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a preprocess output folder")
    parser.add_argument("--job-dir", "--job_dir", dest="job_dir", default="runs/train",
                        help="checkpoints and TensorBoard logs (Vertex AI passes --job-dir)")
    parser.add_argument("--model-dir", help="where version folders go (default: $AIP_MODEL_DIR, "
                                            "else <job-dir>/model)")
    parser.add_argument("--epochs", type=int, help="override the spec's model.epochs")
    parser.add_argument("--batch-size", type=int, help="override the spec's model.batch_size")
    parser.add_argument("--learning-rate", type=float, help="override the spec's model.learning_rate")
    parser.add_argument("--exclude-features", type=lambda text: [t for t in text.split(",") if t],
                        help="comma-separated features a dnn model leaves out (for ablations)")
    parser.add_argument("--params", help="a params file from `embedflow tune` (embedding dims, hidden units, "
                                          "learning rate)")
    parser.add_argument("--embedding-scale", type=float,
                        help="multiply every auto-sized embedding dimension (for hyperparameter tuning services)")
    parser.add_argument("--hypertune-metric", help="report this eval metric (rmse, mae, auc) to Vertex AI "
                                                   "hyperparameter tuning")
    parser.add_argument("--in-memory", dest="in_memory", action=argparse.BooleanOptionalAction, default=None,
                        help="hold the train split in memory (fast, reshuffled each epoch) or stream it through a "
                             "shuffle buffer (default: in memory when it fits --memory-budget-gb)")
    parser.add_argument("--memory-budget-gb", "--memory_budget_gb", dest="memory_budget_gb", type=float,
                        help="GB the parsed train split may take in memory; a larger split streams from its TFRecord "
                             "shards (default: a quarter of this machine's RAM)")
    parser.add_argument("--distribution", default="auto", choices=STRATEGIES,
                        help="tf.distribute strategy: none; mirrored (every GPU of this machine); multi_worker (the "
                             "workers of TF_CONFIG, as Vertex AI sets it); parameter_server (embedding tables "
                             "sharded over TF_CONFIG's ps tasks); auto (default) picks from TF_CONFIG and the GPUs")
    parser.add_argument("--ps-shard-mb", "--ps_shard_mb", dest="ps_shard_mb", type=float,
                        default=TrainConfig.ps_shard_mb,
                        help="with parameter_server: MB an embedding table's shard holds at least; a table is split "
                             "over the ps tasks (at most one shard each) only when it is bigger (default %(default)g)")
    parser.add_argument("--seed", type=int, default=42)
    vertex = parser.add_argument_group("Vertex AI", "with --vertex, the run goes to Vertex AI as a CustomJob "
                                                    "(--dry_run prints it; see docs/scaling-training.md)")
    vertex.add_argument("--vertex", action="store_true", help="build a Vertex AI CustomJob that runs this training")
    vertex.add_argument("--project", help="Google Cloud project")
    vertex.add_argument("--region", help="Vertex AI region, e.g. us-central1")
    vertex.add_argument("--image", help="the trainer image (vertex/Dockerfile; default "
                                        "REGION-docker.pkg.dev/PROJECT/embedflow/trainer:latest)")
    vertex.add_argument("--machine-type", help="each training replica's machine (default n1-standard-8)")
    vertex.add_argument("--accelerator-type", help="GPUs per replica's type, e.g. NVIDIA_TESLA_T4 (default none)")
    vertex.add_argument("--accelerator-count", type=int, help="GPUs per replica (default 1 with --accelerator-type)")
    vertex.add_argument("--workers", type=int, help="replicas that train, the chief included (default 1)")
    vertex.add_argument("--parameter-servers", type=int, help="parameter-server replicas for sharded embedding "
                                                                "tables (default 0)")
    vertex.add_argument("--ps-machine-type", help="parameter servers' machine (default n1-highmem-16)")
    vertex.add_argument("--display-name", help="the job's name in the console (default embedflow-train)")
    vertex.add_argument("--dry_run", "--dry-run", dest="dry_run", action="store_true",
                        help="print the job offline instead of submitting it")


def vertex_job_from_args(args: argparse.Namespace) -> vertex_job.VertexJob | None:
    """The Vertex AI job the flags ask for (None without --vertex; its flags without it are an error)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(vertex_job.VertexJob)
             if getattr(args, f.name) not in (None, False)}
    if not args.vertex:
        if given:
            raise UserError(f"--{sorted(given)[0].replace('_', '-')} is a Vertex AI flag: add --vertex")
        return None
    return vertex_job.VertexJob(**{"project": args.project, "region": args.region, **given})


def config_from_args(args: argparse.Namespace, _extra: list[str] | None = None) -> TrainConfig:
    """The command line's TrainConfig: each flag's dest is its field (the only place an argparse namespace is read)."""
    return from_namespace(TrainConfig, args)


def main_from_args(args: argparse.Namespace, _extra: list[str]):
    config = config_from_args(args)  # checked before TensorFlow loads
    job = vertex_job_from_args(args)
    if job is not None:
        return submit_to_vertex(job, config, args)
    from trainer import task

    reporter = task.vertex_reporter() if args.hypertune_metric else None  # a missing package fails before training
    result = task.train(config)
    if result is None:
        print("Trained as a worker of the cluster; the chief evaluates and exports")
        return None
    if reporter is not None:
        task.report_to_vertex(reporter, result.metrics, args.hypertune_metric, result.metrics["epochs_trained"])
    print(f"Exported {result.version_dir}")
    print("Eval metrics:")
    print("\n".join(task.summary_lines(result.metrics)))
    return result


def submit_to_vertex(job: vertex_job.VertexJob, config: TrainConfig, args: argparse.Namespace) -> dict:
    """Build the CustomJob (no TensorFlow, no network) and print it (--dry_run) or submit it."""
    extra = (f"--hypertune-metric={args.hypertune_metric}",) if args.hypertune_metric else ()
    body = vertex_job.custom_job(job, config, extra)
    if job.dry_run:
        print(vertex_job.describe(job, body))
    else:
        print(f"Submitted Vertex AI CustomJob {vertex_job.submit(job, body)}")
    return body
