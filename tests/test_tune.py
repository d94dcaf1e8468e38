"""The embedding-dimension search: report files, resumable trials, and params that train."""

import csv
import json
import os

import pytest
import yaml
from PIL import Image

from trainer import task
from trainer.config import TrainConfig, TuneConfig
from trainer.tune import BEST, TRIALS, trial_grid, tune, write_report


def test_default_grid_is_forty_percent_around_the_fourth_root(preprocessed):
    _, manifest = preprocessed
    grid = trial_grid(manifest)
    movie = manifest["features"]["movie_id"]["embedding_dim"]
    dims = [g["embedding_dims"]["movie_id"] for g in grid]
    assert min(dims) == round(movie * 0.6) and max(dims) == round(movie * 1.4) and movie in dims
    assert set(grid[0]["embedding_dims"]) == {"user_id", "movie_id"}  # genres and year are set in the spec


@pytest.mark.slow  # four trainings: two trials, a third with other settings, and the best params
def test_search_writes_report_resumes_and_best_params_train(preprocessed, tmp_path):
    prep, manifest = preprocessed
    out = str(tmp_path / "tune")
    best = tune(TuneConfig(input=prep, output=out, dims=[2, 6], epochs=2))
    for name in ("report.md", "report.csv", "report.png", BEST, TRIALS):
        assert os.path.exists(os.path.join(out, name)), name
    with Image.open(os.path.join(out, "report.png")) as image:
        assert image.format == "PNG"
    with open(os.path.join(out, "report.md")) as f:
        report = f.read()
    assert "**best**" in report and "parameters" in report and "model MB" in report
    trials = [json.loads(line) for line in open(os.path.join(out, TRIALS))]
    assert len(trials) == 2 and trials[0]["parameters"] < trials[1]["parameters"]
    assert all(t["model_bytes"] > 0 and t["train_seconds"] > 0 for t in trials)

    assert all(t["settings"]["epochs"] == 2 and t["settings"]["seed"] == 42 and t["epoch_seconds"] > 0 for t in trials)
    with open(os.path.join(out, "report.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [json.loads(r["params"]) for r in rows] == [t["params"] for t in trials]  # JSON survives the CSV
    assert [r["best"] for r in rows].count("yes") == 1
    for t in trials:  # ranked by the model's own stopping metric, read from its validation-slice history
        selection = t["selection"]
        assert (selection["metric"], selection["mode"], selection["on"]) == ("val_recall_at_10", "max", "validation")
        assert selection["value"] == max(t["curves"]["val_recall_at_10"])
    assert best["selection"]["value"] == max(t["selection"]["value"] for t in trials)
    assert "chosen on the validation slice" in report and "validation recall@10 (chooses)" in report

    again = tune(TuneConfig(input=prep, output=out, dims=[2, 6], epochs=2))  # everything done: nothing retrained
    assert again["params"] == best["params"]
    assert len(open(os.path.join(out, TRIALS)).readlines()) == 2
    # other settings: the dim-2 trial trained with 2 epochs is not reused
    tune(TuneConfig(input=prep, output=out, dims=[2], epochs=1))
    trials = [json.loads(line) for line in open(os.path.join(out, TRIALS))]
    assert len(trials) == 3 and trials[-1]["settings"]["epochs"] == 1 and trials[-1]["epochs"] == 1

    with open(os.path.join(out, BEST)) as f:
        params = yaml.safe_load(f)
    result = task.train(TrainConfig(input=prep, job_dir=str(tmp_path / "job"), model_dir=str(tmp_path / "model"),
                                    seed=1, params=os.path.join(out, BEST), epochs=1))
    with open(os.path.join(result.version_dir, "manifest.json")) as f:
        used = json.load(f)["features"]
    assert {k: used[k]["embedding_dim"] for k in params["embedding_dims"]} == params["embedding_dims"]


def test_the_best_trial_is_chosen_on_the_validation_slice_never_on_eval(tmp_path):
    """Two trials whose validation and eval figures disagree: the validation slice's pick wins everywhere (the
    returned trial, best_params.yaml, the report's mark), and the eval figure is shown as reported only."""
    def trial(dim, validation_recall, eval_rmse):
        return {"params": {"embedding_dims": {"movie_id": dim}}, "eval_rmse": eval_rmse,
                "selection": {"metric": "val_recall_at_10", "mode": "max", "on": "validation",
                              "value": validation_recall},
                "validation_loss_best": 1.0, "train_loss_at_best": 1.0, "validation_loss_final": 1.0,
                "train_loss_final": 1.0, "epochs": 2, "parameters": dim * 100, "model_bytes": 1000,
                "train_seconds": 1.0, "epoch_seconds": 0.5,
                "curves": {"loss": [1.0, 0.9], "val_loss": [1.1, 1.0]}}

    eval_favourite, validation_favourite = trial(4, 0.30, eval_rmse=0.80), trial(8, 0.35, eval_rmse=0.95)
    best = write_report([eval_favourite, validation_favourite], str(tmp_path), "movie_id")
    assert best is validation_favourite
    assert yaml.safe_load((tmp_path / BEST).read_text()) == {"embedding_dims": {"movie_id": 8}}
    report = (tmp_path / "report.md").read_text()
    best_row = next(line for line in report.splitlines() if "**best**" in line)
    assert best_row.startswith("| 8 ") and "eval rmse (reports)" in report
    with open(tmp_path / "report.csv", newline="") as f:
        assert [r["best"] for r in csv.DictReader(f)] == ["", "yes"]


def test_a_ctrl_c_that_tensorflow_swallowed_still_stops_the_search(preprocessed, tmp_path, monkeypatch):
    """SIGINT landing in a weakref callback is printed as 'Exception ignored' and lost; the remembered request stops
    the search after the trial it interrupted, and the CLI exits 130 with one line."""
    import signal
    import weakref

    from embedflow.cli import run_command
    from stage_contracts.interrupt import interrupts_noticed
    from trainer import tune as tune_module

    trained = []

    def trial_interrupted_inside_a_callback(preprocess_dir, trial_dir, params, settings):
        class Graph:
            pass

        graph = Graph()
        weakref.finalize(graph, signal.raise_signal, signal.SIGINT)
        try:
            del graph  # the handler runs inside the finalizer: its KeyboardInterrupt is swallowed there
        except KeyboardInterrupt:  # or, if the signal arrives just after, here: the outcome below is the same
            pass
        trained.append(params)
        return {"params": params, "settings": settings, "eval_rmse": 1.0, "train_seconds": 1.0,
                "selection": {"metric": "val_loss", "mode": "min", "on": "validation", "value": 1.0}}

    monkeypatch.setattr(tune_module, "run_trial", trial_interrupted_inside_a_callback)
    with interrupts_noticed():
        with pytest.raises(KeyboardInterrupt):
            tune(TuneConfig(input=preprocessed[0], output=str(tmp_path / "tune"), dims=[2, 4, 6], epochs=1))
    assert len(trained) == 1 and len(open(tmp_path / "tune" / TRIALS).readlines()) == 1  # resumable from here
    assert run_command(lambda: signal.raise_signal(signal.SIGINT)) == 130
