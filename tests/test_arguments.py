"""What a user types is checked at the door: configs refuse bad values with a UserError naming the field, the
command line exits 2 with one paragraph naming the flag, histories are read strictly.

The properties (hypothesis) only build configs and parse flags (the jobs are
replaced by what builds their config), so they stay fast; bench/fuzz.py
`--arguments` runs them for minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beam_jobs.config import PredictConfig, PreprocessConfig, RecommendAllConfig
from embedflow.sample_tables import HousingSample, RatingsSample
from embedflow.sample_housing_wide import WideHousingSample
from embedflow import cli
from retraining.cut_spans import CutSpansConfig
from embedflow.init_spec import InitSpecConfig
from stage_contracts.arguments import ArgumentError
from stage_contracts.errors import SpecError, UserError
from features.spec import load_spec
from trainer.config import TrainConfig, TuneConfig
from embedding_uses.queries import RecommendQuery, SimilarQuery
from trainer.vertex_job import VertexJob

NAN, INF = float("nan"), float("inf")


def make_paths(root: str) -> dict[str, str]:
    """A file, a folder, and paths to nothing under `root`, as a user might type them."""
    with open(os.path.join(root, "a_file.txt"), "w") as f:
        f.write("x\n")
    os.makedirs(os.path.join(root, "folder"), exist_ok=True)
    return {"root": root, "file": os.path.join(root, "a_file.txt"), "folder": os.path.join(root, "folder"),
            "missing": os.path.join(root, "nope"), "under_file": os.path.join(root, "a_file.txt", "x")}


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return make_paths(str(tmp_path_factory.mktemp("arguments")))


# ---------------------------------------------------------------------- the listed cases, one by one
def _train(**kw):
    return TrainConfig(**{"input": "runs/prep", **kw})


def _prep(**kw):
    return PreprocessConfig(**{"output": "runs/prep-out", **kw})


API_CASES = [
    (_train, {"epochs": -1}, "epochs"), (_train, {"epochs": 0}, "epochs"), (_train, {"epochs": "3"}, "epochs"),
    (_train, {"epochs": 1.5}, "epochs"), (_train, {"batch_size": 0}, "batch_size"),
    (_train, {"batch_size": "big"}, "batch_size"), (_train, {"learning_rate": "fast"}, "learning_rate"),
    (_train, {"learning_rate": -1}, "learning_rate"), (_train, {"learning_rate": NAN}, "learning_rate"),
    (_train, {"hidden_units": 5}, "hidden_units"), (_train, {"input": None}, "input"), (_train, {"input": 5}, "input"),
    (_train, {"embedding_scale": 0}, "embedding_scale"), (_train, {"embedding_scale": -1}, "embedding_scale"),
    (_train, {"in_memory": "no"}, "in_memory"), (_train, {"seed": -5}, "seed"),
    (_train, {"memory_budget_gb": -1}, "memory_budget_gb"), (_train, {"memory_budget_gb": "8G"}, "memory_budget_gb"),
    (_train, {"exclude_features": [""]}, "exclude_features"), (_train, {"distribution": "spark"}, "distribution"),
    (_prep, {"seed": "x"}, "seed"), (_prep, {"max_rejected_fraction": "a"}, "max_rejected_fraction"),
    (_prep, {"max_rejected_fraction": -1}, "max_rejected_fraction"),
    (_prep, {"max_rejected_fraction": NAN}, "max_rejected_fraction"), (_prep, {"input": ["a.csv", "b.csv"]}, "input"),
    (_prep, {"overwrite": "yes"}, "overwrite"), (_prep, {"chunk_bytes": 0}, "chunk_bytes"),
    (_prep, {"beam_args": ("--runner", "SparkyRunner2")}, "SparkyRunner2"),
    (_prep, {"beam_args": ["--runner=Dataflow"]}, "Dataflow"),
    (RatingsSample, {"users": 0}, "users"), (RatingsSample, {"ratings": -1}, "ratings"),
    (RatingsSample, {"taste": 0}, "taste"), (HousingSample, {"rows": -1}, "rows"),
    (WideHousingSample, {"rows": 0}, "rows"),
    (lambda **kw: TuneConfig(**{"input": "p", "output": "t", **kw}), {"factors": [0.5, -1]}, "factors"),
    (lambda **kw: TuneConfig(**{"input": "p", "output": "t", **kw}), {"hidden_units": [[64], []]}, "hidden_units"),
    (lambda **kw: InitSpecConfig(**{"input": "t.csv", **kw}), {"sample_rows": 0}, "sample_rows"),
]


@pytest.mark.parametrize("make,given,named", API_CASES, ids=lambda v: str(v)[:30] if not callable(v) else "")
def test_a_bad_value_is_a_user_error_naming_the_field_and_the_value(make, given, named):
    with pytest.raises(UserError) as e:
        make(**given)
    assert named in str(e.value)
    value = next(iter(given.values()))
    if isinstance(e.value, ArgumentError):
        assert e.value.field == named and repr(value)[:20] in str(e.value)


@pytest.mark.parametrize("field,kind", [("job_dir", "file"), ("job_dir", "under_file"), ("warm_start_from", "missing"),
                                        ("warm_start_from", "file"), ("params", "missing"), ("model_dir", "file")])
def test_train_paths_are_checked(paths, field, kind):
    with pytest.raises(ArgumentError, match=field):
        _train(**{field: paths[kind]})


@pytest.mark.parametrize("given,named", [({"user": "1", "k": 0}, "k"), ({"user": "1", "k": -1}, "k"),
                                         ({"user": "1", "k": "3"}, "k"),
                                         ({"user": "1", "popularity_weight": "x"}, "popularity_weight"),
                                         ({"user": "1", "popularity_weight": NAN}, "popularity_weight"),
                                         ({"user": "1", "popularity_weight": INF}, "popularity_weight"),
                                         ({"user": "1", "rating_weight": -INF}, "rating_weight"),
                                         ({"user": "1", "history": "1,2"}, "either"), ({}, "either"),
                                         ({"history": []}, "history"), ({"history": [1, None]}, "history"),
                                         ({"history": " , "}, "history")])
def test_recommend_arguments(paths, given, named):
    with pytest.raises(UserError, match=named):
        RecommendQuery(paths["folder"], **given)
    import embedflow as ef

    with pytest.raises(UserError, match=named):  # the API checks before it loads the model
        ef.recommend(paths["folder"], **given)


def test_similar_and_the_model_path(paths):
    with pytest.raises(ArgumentError, match="k"):
        SimilarQuery(paths["folder"], "Toy Story", k=-3)
    for model in (paths["missing"], paths["file"], None, 7):
        with pytest.raises(ArgumentError, match="model"):
            SimilarQuery(model, "1")
    assert SimilarQuery(paths["folder"], 1).item == "1" and RecommendQuery(paths["folder"], user=7).user == "7"


def test_statistics_of_a_missing_folder_and_sample_data_of_a_wrong_kind(paths):
    import embedflow as ef

    with pytest.raises(UserError, match="/nope"):
        ef.statistics("/nope")
    with pytest.raises(UserError, match="sample"):
        ef.sample_data(os.path.join(paths["root"], "s"), {"users": 5})
    with pytest.raises(UserError, match="config"):
        ef.train({"input": "x"})


def test_good_values_keep_their_meaning():
    config = _train(epochs=3, learning_rate=1, hidden_units=[64, 32], exclude_features="genres", in_memory=False)
    assert (config.epochs, config.learning_rate, config.hidden_units, config.exclude_features) == \
        (3, 1.0, (64, 32), ("genres",))
    assert _prep(input="data/*.csv", beam_args=["--runner=DirectRunner"], seed=0).beam_args == ("--runner=DirectRunner",)


def test_a_duplicated_yaml_key_names_the_key_and_its_lines(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(open(os.path.join(os.path.dirname(load_spec.__code__.co_filename), "specs", "housing.yaml")).read()
                    + "name: again\n")
    with pytest.raises(SpecError, match="duplicate key 'name'.*line"):
        load_spec(str(spec))


# ---------------------------------------------------------------------- histories
@pytest.mark.parametrize("text,ids", [("417", ["417"]), ("1, 2,3", ["1", "2", "3"]), ("movieId\n5\n6\n", ["5", "6"]),
                                      ("7\n8\n\n", ["7", "8"]),
                                      ("userId,movieId,rating\n1,5,4.0\n1,9,3.5\n", ["5", "9"]),
                                      ("\ufeffmovieId,rating\r\n5,4\r\n", ["5"])])
def test_histories_are_read_one_way(paths, text, ids):
    given = text
    if "\n" in text:
        given = os.path.join(paths["root"], "history.csv")
        with open(given, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    assert RecommendQuery(paths["folder"], history=given).history_ids("movieId") == ids


@pytest.mark.parametrize("content,message", [(b"userId,rating\n1,4.0\n", "without a movieId column"),
                                             (bytes(range(256)) * 16, "not UTF-8"),
                                             (b"1\n\x002\n", "binary"), (b"\n\n", "no item ids"),
                                             (b"movieId,rating\n,4\n", "no movieId value")])
def test_a_history_file_that_is_not_a_list_of_ids_is_refused(paths, content, message):
    path = os.path.join(paths["root"], "bad_history.csv")
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(UserError, match=message):
        RecommendQuery(paths["folder"], history=path).history_ids("movieId")


@pytest.mark.parametrize("kind", ["folder", "missing"])
def test_a_history_path_to_a_folder_or_nothing_is_not_an_id(paths, kind):
    with pytest.raises(ArgumentError, match="history"):
        RecommendQuery(paths["folder"], history=paths[kind])


def test_a_history_is_deduplicated_reported_and_capped_as_in_training(caplog):
    import numpy as np

    from embedding_uses.rated import HISTORY_MAX_ITEMS
    from embedding_uses.recommend import EmbeddingIndex

    index = EmbeddingIndex.from_arrays(np.eye(300, 4, dtype=np.float32), np.zeros((1, 4), np.float32),
                                       np.array([0, 0]), np.array([], np.int64))
    history = index.history(["3"] * 1000 + ["4", "x", "y", "z"])
    assert history.known == ("3", "4") and history.unknown == ("x", "y", "z")
    assert "3 of 5 history ids unknown" in caplog.text and "repeated" in history.describe()
    long = index.history([str(i) for i in range(250)])
    assert len(long.read) == HISTORY_MAX_ITEMS and len(long.positions) == 250 and set(long.read) < set(long.known)
    assert index.history([str(i) for i in range(250)]).read == long.read  # the same seeded sample each time
    with pytest.raises(UserError, match="None of the 2"):
        index.history(["x", "y", "x"])


# ---------------------------------------------------------------------- the command line
def _dry_handlers(stack: contextlib.ExitStack) -> None:
    """Each job replaced by what builds its config from the flags: checks run, nothing is trained or written."""
    import embedflow.ratings_stats
    import embedflow.sample_tables
    import embedflow.sample_housing_wide
    import embedflow.commands.cut_spans as cut
    import embedflow.commands.embeddings as emb
    import embedflow.commands.predict as predict
    import embedflow.commands.preprocess as prep
    import embedflow.commands.recommend_all as rec_all
    import embedflow.commands.train as train
    import embedflow.commands.tune as tune
    import embedflow.init_spec as init

    patch = stack.enter_context(pytest.MonkeyPatch.context())
    for module in (train, prep, rec_all, tune, predict, cut):
        patch.setattr(module, "main_from_args", module.config_from_args)
    patch.setattr(emb, "similar_main", emb.similar_config)
    patch.setattr(emb, "recommend_main", emb.recommend_config)
    patch.setattr(init, "init_spec", lambda config: config.output)
    for name in ("write_ratings_sample", "write_housing_sample"):
        patch.setattr(embedflow.sample_tables, name, lambda out, sample: None)
    patch.setattr(embedflow.sample_housing_wide, "write_wide_housing_sample", lambda out, sample: None)
    patch.setattr(embedflow.ratings_stats, "folder_stats", lambda out: None)
    patch.setattr(embedflow.ratings_stats, "stats_table", lambda stats, names: "")


def run_dry(argv: list[str]) -> tuple[int, str]:
    """The command line in-process with its jobs replaced (_dry_handlers): exit code and what it printed on stderr."""
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        _dry_handlers(stack)
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse's own refusals (a flag's type)
            code = e.code
    return code, err.getvalue()


def assert_one_paragraph(code: int, err: str, named: str | None = None) -> None:
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and " WARNING " not in line]
    ours = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    if ours:  # our paragraph: "error: ..." and its indented continuation lines, nothing after
        assert len(ours) == 1 and all(line.startswith("  ") for line in lines[ours[0] + 1:]), err
    else:  # argparse's: usage, then one error line
        assert lines[-1].startswith("embedflow") and ": error: " in lines[-1], err
    if named is not None:
        assert named in " ".join(err.split()), err


CLI_CASES = [
    (["train", "--input", "p", "--epochs", "0"], "--epochs"), (["train", "--input", "p", "--epochs", "-1"], "--epochs"),
    (["train", "--input", "p", "--batch-size", "0"], "--batch-size"), (["train", "--input", "p", "--seed", "-5"], "--seed"),
    (["train", "--input", "p", "--learning-rate", "nan"], "--learning-rate"),
    (["train", "--input", "p", "--embedding-scale", "-1"], "--embedding-scale"),
    (["sample-data", "--output", "{root}/s", "--users", "0"], "--users"),
    (["sample-data", "--output", "{root}/s", "--ratings=-1"], "--ratings"),
    (["sample-data", "--output", "{root}/s", "--kind", "housing", "--rows", "-3"], "--rows"),
    (["recommend", "--model", "{folder}", "--user", "1", "-k", "0"], "-k"),
    (["recommend", "--model", "{folder}", "--user", "1", "-k", "-1"], "-k"),
    (["recommend", "--model", "{folder}", "--user", "1", "--popularity-weight", "inf"], "--popularity-weight"),
    (["recommend", "--model", "{folder}", "--history", "{folder}"], "--history"),
    (["recommend", "--model", "{folder}", "--history", "{missing}.csv"], "no such file"),
    (["recommend", "--model", "{missing}", "--user", "1"], "--model"),
    (["similar", "--model", "{folder}", "Toy", "-k", "-3"], "-k"),
    (["recommend-all", "--model", "{folder}", "--output", "{root}/ra", "-k", "0"], "-k"),
    (["recommend-all", "--model", "{folder}", "--output", "{root}/ra", "--block-size", "0"], "--block-size"),
    (["preprocess", "--output", "{root}/p", "--max-rejected-fraction", "-1"], "--max-rejected-fraction"),
    (["preprocess", "--output", "{file}"], "--output"),
    (["preprocess", "--output", "{root}/p", "--runner", "Nope"], "Nope"),
    (["tune", "--input", "p", "--output", "{root}/t", "--dims", "0"], "--dims"),
    (["init-spec", "--input", "t.csv", "--sample-rows", "0"], "--sample-rows"),
    (["init-spec", "--input", "t.csv", "--output", "{folder}", "--overwrite"], "--output"),
    (["train", "--input", "p", "--epochs", "three"], "--epochs"),
    (["projector", "--model", "{folder}", "--output", "{root}/pj", "--max-points", "-1"], "--max-points"),
    (["map", "--model", "{folder}", "--output", "{under_file}"], "--output"),
    (["map", "--model", "{folder}", "--output", "{root}/m.png", "--labels", "-2"], "--labels"),
]


@pytest.mark.parametrize("argv,named", CLI_CASES, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else v)
def test_a_bad_flag_is_one_paragraph_naming_the_flag_and_exit_2(paths, argv, named):
    code, err = run_dry([a.format(**paths) for a in argv])
    assert_one_paragraph(code, err, named.format(**paths))


def test_good_flags_build_the_same_config_as_the_api(paths):
    import embedflow.commands.train as train

    args = cli.build_parser("train").parse_args(["train", "--input", "p", "--epochs", "3", "--no-in-memory",
                                                  "--exclude-features", "a,b"])
    assert train.config_from_args(args) == _train(input="p", epochs=3, in_memory=False, exclude_features=("a", "b"))
    assert run_dry(["sample-data", "--output", paths["root"] + "/s", "--users", "5", "--ratings", "100"])[0] == 0
    assert run_dry(["recommend", "--model", paths["folder"], "--history", "-3,-5"]) == (0, "")  # ids, not a flag
    assert run_dry(["train", "--input", "p", "--epochs", "-2"])[1].startswith("error: --epochs must be")


COMMAND_CONFIGS = {"train": TrainConfig, "preprocess": PreprocessConfig, "recommend-all": RecommendAllConfig,
                   "predict": PredictConfig,
                   "tune": TuneConfig, "similar": SimilarQuery, "recommend": RecommendQuery, "init-spec": InitSpecConfig,
                   "cut-spans": CutSpansConfig}
CLI_ONLY = {"help", "command", "verbosity", "hypertune_metric", "vertex"}  # flags that are not the job's settings
SUBMISSION_CONFIGS = {"train": VertexJob}  # where the run goes (`train --vertex`), not what it does


@pytest.mark.parametrize("command", sorted(COMMAND_CONFIGS))
def test_every_flag_is_a_field_of_its_config(command):
    """A flag's dest is its config field's name (stage_contracts/arguments.py from_namespace): they cannot drift."""
    sub = next(a for a in cli.build_parser(command)._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in sub.choices[command]._actions} - CLI_ONLY
    configs = [COMMAND_CONFIGS[command]] + ([SUBMISSION_CONFIGS[command]] if command in SUBMISSION_CONFIGS else [])
    assert dests <= {f.name for config in configs for f in dataclasses.fields(config)}


# ---------------------------------------------------------------------- properties
def anything(paths: dict) -> st.SearchStrategy:
    """Values of every kind a user might type or pass: wrong types, zero, negatives, nan, inf, huge, empty, paths."""
    return st.one_of(
        st.none(), st.booleans(), st.integers(-3, 3), st.integers(-2**70, 2**70),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300, 1e308, -1.5, 0.5]),
        st.text(max_size=12), st.sampled_from(["", " ", "no", "3", "nan", "-1", "1e9", "\0", "a,b", "417"]),
        st.lists(st.integers(-5, 300), max_size=4), st.lists(st.text(max_size=4), max_size=3),
        st.lists(st.lists(st.integers(-1, 64), max_size=2), max_size=2), st.binary(max_size=4),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.sampled_from(sorted(paths.values())))


def config_factories(paths: dict) -> dict:
    """Each config with its required fields set to good values; a property replaces one field at a time."""
    return {
        TrainConfig: {"input": "runs/prep"}, PreprocessConfig: {"output": paths["root"] + "/out"},
        TuneConfig: {"input": "runs/prep", "output": paths["root"] + "/tune"},
        RecommendAllConfig: {"model": paths["folder"], "output": paths["root"] + "/ra"},
        PredictConfig: {"model": paths["folder"], "input": "t.csv", "output": paths["root"] + "/pr"},
        SimilarQuery: {"model": paths["folder"], "item": "1"}, RecommendQuery: {"model": paths["folder"], "user": "1"},
        RatingsSample: {}, HousingSample: {}, WideHousingSample: {}, InitSpecConfig: {"input": "t.csv"},
        VertexJob: {"project": "my-project", "region": "europe-west4"},
        CutSpansConfig: {"input": paths["file"], "output": paths["root"] + "/spans"},
    }


def check_config_property(paths: dict, cls: type, data: st.DataObject) -> str:
    """One generated field value: the config is built or refuses it with a UserError, nothing else."""
    base = config_factories(paths)[cls]
    field = data.draw(st.sampled_from([f.name for f in dataclasses.fields(cls)]), label="field")
    value = data.draw(anything(paths), label="value")
    try:
        config = cls(**{**base, field: value})
    except UserError as e:
        assert str(e) and "\n" not in str(e)
        return "refused"
    built = getattr(config, field)
    assert not (isinstance(built, float) and not math.isfinite(built)), (field, built)
    return "built"


def check_cli_property(paths: dict, data: st.DataObject) -> str:
    """One generated flag value for one command: exit 0 (its config built) or 2 with one paragraph."""
    command, base = data.draw(st.sampled_from(sorted(CLI_BASES.items())), label="command")
    base = [a.format(**paths) for a in base]
    sub = next(a for a in cli.build_parser(command)._actions if isinstance(a, argparse._SubParsersAction))
    flags = [a for a in sub.choices[command]._actions if a.option_strings and a.dest not in CLI_ONLY
             and a.nargs != 0 and a.option_strings[-1] not in base]
    flag = data.draw(st.sampled_from(flags), label="flag").option_strings[-1]
    text = data.draw(st.one_of(st.sampled_from(FLAG_TEXTS), st.text(max_size=8).map(str.strip).filter(bool),
                               st.sampled_from(sorted(paths.values()))), label="text")
    code, err = run_dry([command, *base, f"{flag}={text}"])
    if code != 0:
        assert_one_paragraph(code, err)
    return f"exit {code}"


CLI_BASES = {"train": ["--input", "p"], "preprocess": ["--output", "{root}/p"],
             "sample-data": ["--output", "{root}/s", "--users", "3", "--ratings", "60"],
             "similar": ["--model", "{folder}", "1"], "recommend": ["--model", "{folder}", "--user", "1"],
             "recommend-all": ["--model", "{folder}", "--output", "{root}/ra"],
             "predict": ["--model", "{folder}", "--input", "t.csv", "--output", "{root}/pr"],
             "tune": ["--input", "p", "--output", "{root}/t"], "init-spec": ["--input", "t.csv"],
             "cut-spans": ["--input", "{file}", "--output", "{root}/spans"]}
FLAG_TEXTS = ["0", "-1", "1", "3", "nan", "inf", "-inf", "1e309", "99999999999999999999", "1.5", "abc", "", " ",
              "no", "0,0", "1,,2", ";", "64;", "-", "--", "a\tb"]

PROPERTY_SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("cls", list(config_factories({"root": "", "folder": "", "file": ""})), ids=lambda c: c.__name__)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_field_value_builds_or_is_a_user_error(paths, cls, data):
    check_config_property(paths, cls, data)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_flag_value_runs_or_exits_2_with_one_paragraph(paths, data):
    check_cli_property(paths, data)
