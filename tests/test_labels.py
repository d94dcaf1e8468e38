"""Labels as users have them: text classes end to end, predictions in the label's units, labels refused early.

A yes/no text label and a three-class label are drafted by `init-spec`,
preprocessed, trained and served by a process that imports TensorFlow and
YDF's ops only, which gets class names and probabilities back; a price model's SavedModel
answers in prices; a constant label, or a class with too few rows, is an
error naming the file and the column at `init-spec` and at `preprocess`.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from beam_jobs import preprocess
from beam_jobs.config import PreprocessConfig
from embedflow.sample_csv import write_csv
from embedflow.init_spec import InitSpecConfig, init_spec
from stage_contracts.errors import InputError
from features.spec import load_spec
from shop import shop_table
from trainer import task
from trainer.config import TrainConfig

FAST = {"ensemble: 4": "ensemble: 1", "hidden_units: [256, 256]": "hidden_units: [16]", "epochs: 200": "epochs: 3"}

LOADER = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import ydf_tf.op_dynamic  # noqa: F401 - the drafted model's trees run on YDF's TensorFlow ops
    out = tf.saved_model.load(sys.argv[1]).signatures["predict"](
        size=tf.constant([1.0, 9.0]), colour=tf.constant(["red", "blue"]))
    print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}, default=lambda b: b.decode()))
""")


@pytest.fixture(scope="module")
def shop_csv(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("shop") / "shop.csv")
    write_csv(shop_table(600), path)
    return path


def _drafted(csv: str, label: str, folder, leave_out: tuple[str, ...] = ()) -> str:
    out = init_spec(InitSpecConfig(input=csv, output=str(folder / f"{label}.yaml"), label=label))
    text = open(out, encoding="utf-8").read()
    for old, new in FAST.items():
        text = text.replace(old, new)
    lines = [line for line in text.splitlines() if not any(f"source: {c}," in line for c in leave_out)]
    open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
    return out


def _train(spec_path: str, csv: str, folder) -> task.TrainResult:
    prep = str(folder / "prep")
    preprocess.run(PreprocessConfig(output=prep, input=csv, spec=load_spec(spec_path)))
    return task.train(TrainConfig(input=prep, job_dir=str(folder / "job"), seed=1))


def _serve(version_dir: str) -> dict:
    done = subprocess.run([sys.executable, "-c", LOADER, version_dir], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("label, task_name, classes", [
    ("sold", "binary_classification", {"yes", "no"}),
    ("grade", "multiclass_classification", {"small", "medium", "large"}),
])
def test_text_label_end_to_end(shop_csv, tmp_path, label, task_name, classes):
    spec_path = _drafted(shop_csv, label, tmp_path, leave_out=("price", "sold", "grade"))
    spec = load_spec(spec_path)
    assert spec.label.task == task_name and spec.label.text
    result = _train(spec_path, shop_csv, tmp_path)
    assert result.metrics["model"]["log_loss"] < result.metrics["baseline_mean"]["log_loss"], result.metrics
    chosen = result.metrics["chosen_on_validation"]["calibration"]  # the blend's log-odds scaled on the slice
    assert chosen["validation_loss"] <= chosen["unscaled_validation_loss"] and chosen["logit_scale"] > 0
    out = _serve(result.version_dir)
    assert set(out["classes"][0]) == classes and out["classes"][0] == out["classes"][1]
    probabilities = np.array(out["probabilities"])
    assert probabilities.shape == (2, len(classes)) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    if task_name == "binary_classification":
        assert np.allclose(out["prediction"], probabilities[:, 1])  # the positive class's probability
    else:
        assert out["prediction"] == [out["classes"][0][i] for i in probabilities.argmax(axis=1)]


def test_price_model_serves_prices(shop_csv, tmp_path):
    spec_path = _drafted(shop_csv, "price", tmp_path, leave_out=("sold", "grade"))
    assert load_spec(spec_path).label.transform == "log"
    result = _train(spec_path, shop_csv, tmp_path)
    prices = np.array(_serve(result.version_dir)["prediction"])
    assert np.all((prices > 2_000) & (prices < 100_000)), prices  # prices (8,100 to 49,000), not log prices (~9-11)


def _with_label(table: pa.Table, name: str, values: list) -> pa.Table:
    return table.append_column(name, pa.array(values))


def test_unlearnable_labels_are_refused_at_init_spec_and_preprocess(tmp_path):
    table = shop_table(200)
    constant = _with_label(table, "status", ["open"] * 200)
    rare = _with_label(table, "outcome", ["a"] * 100 + ["b"] * 98 + ["c"] * 2)
    for path, label, problem in ((tmp_path / "constant.csv", "status", "one class only"),
                                 (tmp_path / "rare.csv", "outcome", "fewer than 5 rows")):
        write_csv(constant if label == "status" else rare, str(path))
        with pytest.raises(InputError, match=rf"{path}.*'{label}'.*{problem}"):
            init_spec(InitSpecConfig(input=str(path), output=str(tmp_path / "x.yaml"), label=label))
    # A spec written by hand reaches preprocess, which checks the train split with the same rule.
    spec = tmp_path / "constant.yaml"
    spec.write_text(textwrap.dedent("""
        source: {format: csv}
        columns: {size: {type: float}, price: {type: float}}
        features: [{name: size, source: size, transform: z_score}]
        label: {column: price}
    """))
    write_csv(_with_label(table.select(["size"]), "price", [7.0] * 200), str(tmp_path / "flat.csv"))
    with pytest.raises(InputError, match=r"flat.csv.*'price'.*same value in every row"):
        preprocess.run(PreprocessConfig(output=str(tmp_path / "prep"), input=str(tmp_path / "flat.csv"),
                                        spec=load_spec(str(spec))))
    assert not (tmp_path / "prep" / "_SUCCESS").exists()


@pytest.mark.slow  # two retrain cycles, each a preprocess job and a DNN + trees training
def test_retrain_judges_text_classes_by_name_and_leaves_out_a_class_only_eval_has(shop_csv, tmp_path):
    """Two days of a three-class text label through `retrain`: the gate scores both SavedModels by class name
    (log-loss and accuracy), and day 2's eval rows of a class no train row has ('huge') are left out of the
    figures and counted, instead of being scored as class -1."""
    from features.split import eval_mask
    from retraining.retrain import RetrainConfig, Retrainer, read_history

    spec_path = _drafted(shop_csv, "grade", tmp_path, leave_out=("price", "sold", "grade"))
    text = open(spec_path, encoding="utf-8").read()
    # Split by size alone, so that renaming a row's class keeps the row on its side.
    text = text.replace("split: {eval_fraction: 0.2, seed: 42}", "split: {eval_fraction: 0.2, seed: 42, key: [size]}")
    open(spec_path, "w", encoding="utf-8").write(text)
    spec = load_spec(spec_path)
    for day in (1, 2):
        table = shop_table(600, seed=day)
        if day == 2:
            held_out = eval_mask(table.to_batches()[0], spec.split.key, spec.split.seed, spec.split.eval_fraction)
            huge = held_out & (table.column("size").to_numpy() > 8)
            grade = np.where(huge, "huge", table.column("grade").to_numpy(zero_copy_only=False))
            table = table.set_column(table.column_names.index("grade"), "grade", pa.array(grade.tolist()))
        (tmp_path / "spans" / f"2026-11-0{day}").mkdir(parents=True)
        write_csv(table, str(tmp_path / "spans" / f"2026-11-0{day}" / "shop.csv"))
        (tmp_path / "retrain.yaml").write_text(f"input_root: spans\nwork_dir: work\nmodel_dir: models\n"
                                               f"spec: {spec_path}\ntolerance: 5.0\n")
        assert Retrainer(RetrainConfig.load(str(tmp_path / "retrain.yaml"))).run() == 0
    record = read_history(str(tmp_path / "work" / "history.jsonl"))[-1]
    assert record["decision"] == "promoted" and [c["metric"] for c in record["gate"]] == ["log_loss", "accuracy"]
    for scores in (record["candidate"], record["serving"]):
        assert 0 < scores["log_loss"] < np.log(3) and 0.5 < scores["accuracy"] <= 1, record
    metrics = json.loads((tmp_path / "models" / record["version"] / "metrics.json").read_text())
    assert metrics["eval_examples_of_unknown_class"] == int(huge.sum()) > 0
    assert metrics["model"]["log_loss"] < metrics["baseline_mean"]["log_loss"], metrics
