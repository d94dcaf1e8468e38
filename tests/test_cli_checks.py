"""Up-front checks: one clear paragraph, exit code 2, no traceback."""

import os
import signal
import subprocess
import sys
import time

import pytest

from embedflow.cli import main

RATINGS_HEADER = "userId,movieId,rating,timestamp\n"
MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation\n"


def run_cli(capsys, *args):
    code = main(list(args))
    err = capsys.readouterr().err
    return code, err


def movielens_folder(root, ratings_text, movies_text=MOVIES):
    root.mkdir(parents=True, exist_ok=True)
    (root / "ratings.csv").write_text(ratings_text)
    (root / "movies.csv").write_text(movies_text)
    return str(root)


@pytest.mark.parametrize("case", ["missing_folder", "no_matching_files", "empty_file", "header_only",
                                  "no_header", "renamed_column"])
def test_input_problems_name_the_file(tmp_path, capsys, case):
    out = str(tmp_path / "out")
    if case == "missing_folder":
        args, named = ["--input", str(tmp_path / "nope")], str(tmp_path / "nope")
    elif case == "no_matching_files":
        args, named = ["--spec", "housing", "--input", str(tmp_path / "*.csv")], str(tmp_path / "*.csv")
    elif case == "empty_file":
        folder = movielens_folder(tmp_path / "ml", "")
        args, named = ["--input", folder], os.path.join(folder, "ratings.csv")
    elif case == "header_only":
        folder = movielens_folder(tmp_path / "ml", RATINGS_HEADER)
        args, named = ["--input", folder], os.path.join(folder, "ratings.csv")
    elif case == "no_header":
        folder = movielens_folder(tmp_path / "ml", "1,1,4.0,964982703\n")
        args, named = ["--input", folder], os.path.join(folder, "ratings.csv")
    else:
        folder = movielens_folder(tmp_path / "ml", "userId,movieId,score,timestamp\n1,1,4.0,964982703\n")
        args, named = ["--input", folder], "rating"
    code, err = run_cli(capsys, "preprocess", *args, "--output", out)
    assert code == 2, err
    assert named in err.replace("\n  ", " ") and "Traceback" not in err
    assert not os.path.exists(os.path.join(out, "_SUCCESS"))


def test_renamed_column_message_names_file_and_both_names(tmp_path, capsys):
    folder = movielens_folder(tmp_path / "ml", "userId,movieId,ratings,timestamp\n1,1,4.0,964982703\n")
    code, err = run_cli(capsys, "preprocess", "--input", folder, "--output", str(tmp_path / "out"))
    text = err.replace("\n  ", " ")
    assert code == 2 and "ratings.csv lacks column(s) rating" in text and "renamed to 'ratings'" in text


def test_non_empty_output_needs_overwrite(tmp_path, capsys):
    folder = movielens_folder(tmp_path / "ml", RATINGS_HEADER + "1,1,4.0,964982703\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    code, err = run_cli(capsys, "preprocess", "--input", folder, "--output", str(tmp_path / "out"))
    assert code == 2 and "--overwrite" in err and str(tmp_path / "out") in err.replace("\n  ", " ")


def test_demo_refuses_a_folder_that_holds_files(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    code, err = run_cli(capsys, "demo", "--output", str(tmp_path / "out"))
    assert code == 2 and "--overwrite" in err and (tmp_path / "out" / "keep.txt").read_text() == "x"


def test_spec_error_exits_2_naming_file_and_feature(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("source: {format: csv}\ncolumns: {a: {type: int}}\n"
                    "features: [{name: f, source: b, transform: z_score}]\nlabel: {column: a}\n")
    code, err = run_cli(capsys, "preprocess", "--spec", str(spec), "--input", str(tmp_path),
                        "--output", str(tmp_path / "out"))
    assert code == 2 and str(spec) in err.replace("\n  ", " ") and "feature 'f'" in err


@pytest.mark.parametrize("flag,named", [(["--runner", "SparkyRunner2"], "SparkyRunner2"),
                                        (["--runner", "Dataflow"], "Dataflow"),
                                        (["--num_wrkers=3"], "--num_wrkers"),
                                        (["-x"], "-x")])
def test_bad_beam_flags_exit_2(tmp_path, capsys, flag, named):
    folder = movielens_folder(tmp_path / "ml", RATINGS_HEADER + "1,1,4.0,964982703\n")
    code, err = run_cli(capsys, "preprocess", "--input", folder, "--output", str(tmp_path / "out"), *flag)
    assert code == 2 and named in err and "Traceback" not in err


def test_killed_preprocess_is_refused_by_train_and_overwrite_recovers(ratings_sample, tmp_path, capsys):
    out = str(tmp_path / "prep")
    proc = subprocess.Popen([sys.executable, "-m", "beam_jobs.preprocess", "--input", ratings_sample,
                             "--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "_tmp")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert os.path.isdir(out) and not os.path.exists(os.path.join(out, "_SUCCESS"))

    code, err = run_cli(capsys, "train", "--input", out, "--job-dir", str(tmp_path / "job"))
    assert code == 2 and "incomplete" in err and "_SUCCESS" in err and "Traceback" not in err

    code, err = run_cli(capsys, "preprocess", "--input", ratings_sample, "--output", out)
    assert code == 2 and "--overwrite" in err
    code, err = run_cli(capsys, "preprocess", "--input", ratings_sample, "--output", out, "--overwrite")
    assert code == 0, err
    assert os.path.exists(os.path.join(out, "_SUCCESS"))
