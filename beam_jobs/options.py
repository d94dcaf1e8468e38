"""Beam pipeline options: every flag the job does not know passes through to Beam.

Like Beam's own examples, a job parses its own flags with
`parse_known_args` and hands the rest to `PipelineOptions`, so every runner
flag works without the job knowing it.  Unknown runners and flags Beam
cannot parse are refused up front, with the flag named.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import tempfile

from apache_beam.options.pipeline_options import (
    DirectOptions, GoogleCloudOptions, PipelineOptions, SetupOptions, StandardOptions, TestOptions)
from apache_beam.runners.runner import PipelineState

from beam_jobs.config import check_cloud_storage_flags, check_runner
from stage_contracts.errors import UserError
from stage_contracts.quiet import child_start_up_lines_filtered, stderr_lines_filtered

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Options for Beam from the pass-through flags, checked and completed.

    On Dataflow the workers install this project from setup.py; `--setup_file`
    is filled in when neither it nor a custom container is given (from a source
    checkout; installed from a wheel, `--extra_package` the wheel instead).
    """
    for arg in beam_args:
        if arg.startswith("-") and not arg.startswith("--"):
            raise UserError(f"Malformed Beam flag '{arg}': Beam flags are long options such as "
                            f"--runner=DataflowRunner or --temp_location gs://bucket/tmp.")
    options = PipelineOptions(beam_args)
    unknown = _unparsed(beam_args)
    if unknown:
        raise UserError(f"Unknown flag(s) {', '.join(unknown)}: neither this job nor Apache Beam knows them. "
                        f"Run with --help for the job's flags; Beam flags are listed in Beam's "
                        f"PipelineOptions documentation.")
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    check_runner(("--runner", runner))
    check_cloud_storage_flags(tuple(beam_args))
    options.view_as(StandardOptions).runner = runner
    if runner == "DataflowRunner":
        if is_dry_run(options):  # a dry run never asks for credentials, so it never waits on a metadata server
            options.view_as(GoogleCloudOptions).no_auth = True
        setup = options.view_as(SetupOptions)
        container = options.get_all_options().get("sdk_container_image")
        if not setup.setup_file and not container:
            source_setup = os.path.join(PROJECT_ROOT, "setup.py")
            if os.path.exists(source_setup):
                setup.setup_file = source_setup
            elif not setup.extra_packages:
                raise UserError("embedflow is installed from a wheel, so there is no setup.py for Dataflow to "
                                "build the workers' package from. Pass --sdk_container_image (an image with "
                                "embedflow installed, e.g. flex_template/Dockerfile's), or --extra_package "
                                "PATH/embedflow-*.whl (the wheel this was installed from), or --setup_file "
                                "PATH/setup.py of a source checkout.")
        setup.save_main_session = False
    return options


def _unparsed(beam_args: list[str]) -> list[str]:
    """Flags that no registered PipelineOptions class declares."""
    known = set()
    for cls in PipelineOptions.__subclasses__() + [PipelineOptions]:
        _collect(cls, known)
    flags = []
    for arg in beam_args:
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0]
            if name not in known and name.replace("-", "_") not in known:
                flags.append(arg.split("=", 1)[0])
    return flags


def _collect(cls, known: set) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    try:
        cls._add_argparse_args(parser)  # noqa: SLF001 - Beam's own way to declare options
    except Exception:  # noqa: BLE001 - an options class that cannot declare itself adds nothing
        pass
    for action in parser._actions:  # noqa: SLF001
        for option in action.option_strings:
            known.add(option.lstrip("-"))
    for sub in cls.__subclasses__():
        _collect(sub, known)


def is_dry_run(options: PipelineOptions) -> bool:
    """`--dry_run`: Dataflow builds the job (graph, options, staging list) but does not submit it."""
    return bool(options.view_as(TestOptions).dry_run)


def dry_run_summary(job) -> str:
    """What a dry run would submit: the job's top-level steps in order and the files staged for the workers."""
    from apache_beam.portability.api import beam_runner_api_pb2

    components = job.proto_pipeline.components
    roots = list(job.proto_pipeline.root_transform_ids)
    if len(roots) == 1:  # the Dataflow job wraps the pipeline in one root transform
        roots = list(components.transforms[roots[0]].subtransforms) or roots
    steps = [components.transforms[i].unique_name for i in roots]
    staged = sorted({beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
                     for env in components.environments.values() for dep in env.dependencies})
    options = job.options.get_all_options(drop_default=True)
    where = ", ".join(f"{k} {options[k]}" for k in ("project", "region", "temp_location") if options.get(k))
    return "\n".join([f"Dry run of a Dataflow job ({where}), not submitted. Steps:"]
                     + [f"  {name}" for name in steps] + ["Staged for the workers:"] + [f"  {name}" for name in staged])


class HarmlessWorkerWarnings(logging.Filter):
    """Drops what every multi-processing DirectRunner worker warns at start-up and no user can act on."""

    HARMLESS = ("No semi_persistent_directory found", "Discarding unparseable args")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.HARMLESS)


_WORKER_WARNINGS = HarmlessWorkerWarnings()


def run_pipeline(pipeline, options: PipelineOptions):
    """Run a built pipeline; wait for it unless this is a dry run.  Returns the result.

    With DirectRunner's multi-processing mode, the workers' start-up noise is filtered: the warnings each
    worker sends back, and the C++ lines of the TensorFlow each one loads (stage_contracts/quiet.py).
    """
    multi_processing = options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    logging.getLogger("apache_beam.runners.portability.local_job_service").addFilter(_WORKER_WARNINGS)
    dataflow = runner_name(options) == "DataflowRunner"
    with (child_start_up_lines_filtered() if multi_processing else _staging_quietly(is_dry_run(options)) if dataflow
          else contextlib.nullcontext()):
        result = pipeline.run()
        if not is_dry_run(options):
            state = result.wait_until_finish()
            if state not in (None, PipelineState.DONE):
                raise UserError(f"The {runner_name(options)} job ended in state {state}; see its logs.")
    return result


LOG_LINE = re.compile(rb"^\d\d:\d\d:\d\d [A-Z]+ ")  # a line of this process's logging (embedflow/cli.py's format)


@contextlib.contextmanager
def _staging_quietly(dry_run: bool):
    """Submitting a Dataflow job builds the project's sdist in a child process (`python -m build`: its progress
    lines, setuptools' and wheel's warnings): that output is shown only if the submission fails.  A dry run's
    files (the sdist, the dependency list) go to a temporary folder removed afterwards; Beam leaves its own."""
    folder = tempfile.mkdtemp(prefix="embedflow-staging-") if dry_run else None
    previous, tempfile.tempdir = tempfile.tempdir, folder or tempfile.tempdir
    try:
        with stderr_lines_filtered(LOG_LINE.match, show_held_on_error=True):
            yield
    finally:
        tempfile.tempdir = previous
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def runner_name(options: PipelineOptions) -> str:
    return options.view_as(StandardOptions).runner


def describe_options(options: PipelineOptions) -> dict:
    """The options worth recording in a manifest: those set, minus credentials."""
    everything = options.get_all_options(drop_default=True)
    everything.pop("service_account_email", None)
    gcp = options.view_as(GoogleCloudOptions)
    if gcp.project:
        everything["project"] = gcp.project
    return {k: v for k, v in everything.items() if v is not None}
