"""The same jobs built for Dataflow, offline: `--dry_run` builds the job without submitting it."""

import os
import tempfile

import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from beam_jobs import preprocess, recommend_all
from beam_jobs.config import PreprocessConfig, RecommendAllConfig

DATAFLOW = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1",
            "--temp_location=gs://my-bucket/tmp", "--dry_run=True", "--no_auth", "--max_num_workers=7"]


def top_level_steps(job):
    return {t.unique_name for t in job.proto_pipeline.components.transforms.values() if "/" not in t.unique_name}


def staged_files(job):
    names = set()
    for env in job.proto_pipeline.components.environments.values():
        for dep in env.dependencies:
            names.add(beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name)
    return names


def check_options(job):
    options = job.options.get_all_options(drop_default=True)
    assert options["project"] == "my-project" and options["region"] == "europe-west1"
    assert options["temp_location"].startswith("gs://my-bucket/tmp")
    assert options["max_num_workers"] == 7
    assert options["setup_file"] == os.path.join(os.path.dirname(os.path.dirname(__file__)), "setup.py")
    assert "workflow.tar.gz" in staged_files(job)  # the project, built from setup.py for the workers


def test_preprocess_builds_a_dataflow_job(ratings_sample, movielens_spec, tmp_path):
    result = preprocess.run(PreprocessConfig(output=str(tmp_path / "out"), input=ratings_sample, spec=movielens_spec,
                                             beam_args=DATAFLOW))
    assert result["dry_run"]
    job = result["job"]
    steps = top_level_steps(job)
    for step in ("ReadAndValidate", "SplitTrainEval", "Analyze", "Transform_train", "Transform_eval",
                 "Write_train", "Write_eval", "WriteIdTable", "WriteTransformFn", "WriteRejected"):
        assert step in steps, step
    nested = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert {"ReadAndValidate/ParseAndValidate", "ReadAndValidate/KeepLatest",
            "ReadAndValidate/JoinSideTable"} <= nested
    check_options(job)
    assert not os.path.exists(tmp_path / "out")  # a dry run leaves nothing behind


class CredentialsCalled(BaseException):
    """Not an Exception, so no retry loop swallows it: the test fails at the first credential lookup."""


def no_credentials_allowed(monkeypatch) -> None:
    import google.auth
    from apache_beam.internal.gcp import auth

    def no_credentials(*args, **kwargs):
        raise CredentialsCalled("a dry run looked up credentials")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    monkeypatch.setattr(auth, "get_service_credentials", no_credentials)


def test_dry_run_with_remote_input_and_output_is_offline(movielens_spec, monkeypatch, tmp_path):
    """Offline without --no_auth too, and the sdist built for the workers is not left in the temporary folder."""
    no_credentials_allowed(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    without_no_auth = [a for a in DATAFLOW if a != "--no_auth"]
    result = preprocess.run(PreprocessConfig(output="gs://my-bucket/prep", input="gs://my-bucket/ml-25m",
                                             spec=movielens_spec, beam_args=without_no_auth))
    left = [name for _, _, files in os.walk(tmp_path) for name in files]
    assert not [n for n in left if n.endswith(".tar.gz") or n.startswith("submission_environment")], left
    assert {"ReadAndValidate", "Analyze", "Write_train"} <= top_level_steps(result["job"])
    from beam_jobs.options import dry_run_summary

    summary = dry_run_summary(result["job"])
    assert "  Analyze\n" in summary and "  workflow.tar.gz" in summary


def test_a_bucket_name_cloud_storage_refuses_is_one_paragraph_before_beam_loads(movielens_spec, monkeypatch):
    from stage_contracts.errors import UserError

    no_credentials_allowed(monkeypatch)
    bad = [a if not a.startswith("--temp_location") else "--temp_location=gs://b/tmp" for a in DATAFLOW]
    with pytest.raises(UserError, match=r"--temp_location gs://b/tmp: 'b' is not a Cloud Storage bucket name"):
        PreprocessConfig(output="gs://my-bucket/prep", beam_args=("--temp_location", "gs://b/tmp"))
    with pytest.raises(UserError, match="'b' is not a Cloud Storage bucket name"):
        preprocess.run(PreprocessConfig(output="gs://my-bucket/prep", input="gs://my-bucket/ml-25m",
                                        spec=movielens_spec, beam_args=bad))
    PreprocessConfig(output="x", beam_args=("--temp_location=gs://my-bucket.example.com/tmp",))  # dotted: allowed


def test_recommend_all_builds_a_dataflow_job(trained, tmp_path):
    result = recommend_all.run(RecommendAllConfig(model=trained.version_dir, output=str(tmp_path / "recs"),
                                                  beam_args=DATAFLOW))
    assert not os.path.exists(tmp_path / "recs")
    job = result["job"]
    assert {"UserBlocks", "ScoreBlocks", "WriteParquet"} <= top_level_steps(job)
    check_options(job)


def test_setup_file_given_by_the_user_is_kept(tmp_path):
    from beam_jobs.options import pipeline_options

    options = pipeline_options(DATAFLOW + [f"--setup_file={tmp_path / 'my_setup.py'}"])
    assert options.get_all_options()["setup_file"] == str(tmp_path / "my_setup.py")
    container = pipeline_options(DATAFLOW + ["--sdk_container_image=gcr.io/p/embedflow:1"])
    assert container.get_all_options()["setup_file"] is None


def test_worker_flags_pass_through():
    from beam_jobs.options import pipeline_options

    options = pipeline_options(DATAFLOW + ["--worker_machine_type=n2-highmem-4", "--disk_size_gb=100"])
    assert options.get_all_options()["machine_type"] == "n2-highmem-4"
    assert options.get_all_options()["disk_size_gb"] == 100


def test_flex_template_parameters_are_preprocess_flags():
    import argparse
    import json

    root = os.path.dirname(os.path.dirname(__file__))
    with open(os.path.join(root, "flex_template", "metadata.json")) as f:
        metadata = json.load(f)
    from embedflow.commands import preprocess as preprocess_command

    parser = argparse.ArgumentParser()
    preprocess_command.add_arguments(parser)
    flags = {option for action in parser._actions for option in action.option_strings}  # noqa: SLF001
    for parameter in metadata["parameters"]:
        assert f"--{parameter['name']}" in flags, parameter["name"]


def test_bigquery_input_builds_a_dataflow_job(tmp_path):
    from features.spec import load_spec

    spec_text = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "features", "specs",
                                  "housing.yaml")).read().replace("format: csv", "format: bigquery")
    (tmp_path / "bq.yaml").write_text(spec_text)
    result = preprocess.run(PreprocessConfig(output=str(tmp_path / "out"), input="my-project:real_estate.sales",
                                             spec=load_spec(str(tmp_path / "bq.yaml")), beam_args=DATAFLOW))
    steps = {t.unique_name for t in result["job"].proto_pipeline.components.transforms.values()}
    assert "ReadAndValidate/ReadFromBigQuery" in steps and "ReadAndValidate/ParseAndValidate" in steps
    check_options(result["job"])


def test_installed_from_a_wheel_stages_the_wheel_or_a_container(tmp_path, monkeypatch):
    """A wheel install has no setup.py beside the packages: say what to pass instead of failing in Beam."""
    import pytest

    from beam_jobs import options as beam_options
    from stage_contracts.errors import UserError

    monkeypatch.setattr(beam_options, "PROJECT_ROOT", str(tmp_path))  # site-packages: no setup.py
    with pytest.raises(UserError, match="--extra_package"):
        beam_options.pipeline_options(DATAFLOW)
    wheel = str(tmp_path / "embedflow-0.1.0-py3-none-any.whl")
    staged = beam_options.pipeline_options(DATAFLOW + [f"--extra_package={wheel}"]).get_all_options()
    assert staged["setup_file"] is None and staged["extra_packages"] == [wheel]
    container = beam_options.pipeline_options(DATAFLOW + ["--sdk_container_image=gcr.io/p/embedflow:1"])
    assert container.get_all_options()["setup_file"] is None
