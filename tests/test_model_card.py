"""`describe --model`: the model card a user reads before serving a version, printed and written beside it."""

import json
import os
import re

import tensorflow as tf

from embedflow import cli
from embedflow.model_card import CARD_FILE


def test_card_names_data_selection_metrics_gate_and_a_request_that_works(trained, tmp_path, capsys):
    version = os.path.basename(trained.version_dir)
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps({"decision": "promoted", "version": version, "decided_by": "recall@10",
                                   "reason": "recall@10 not worse", "gate": [{"metric": "recall@10"}],
                                   "finished_at": "2026-12-06T05:00:00"}) + "\n")
    assert cli.main(["describe", "--model", os.path.dirname(trained.version_dir), "--history", str(history)]) == 0
    printed = capsys.readouterr().out
    with open(os.path.join(trained.version_dir, CARD_FILE)) as f:
        card = f.read()
    assert card in printed
    metrics = trained.metrics
    assert f"epoch {metrics['best_epoch']} kept (best recall_at_10)" in card
    assert f"| model | {metrics['model']['rmse']:.4f} |" in card and "| baseline_bias |" in card
    assert f"{metrics['train_examples']:,}" in card and "**promoted** (decided by recall@10)" in card
    # the example request runs as written against the SavedModel's own signature
    request = json.loads(re.search(r"curl -d '(\{\"signature_name\": \"predict\".*?)'", card).group(1))
    predict = tf.saved_model.load(trained.version_dir).signatures["predict"]
    specs = predict.structured_input_signature[1]
    out = predict(**{k: tf.constant(v, specs[k].dtype) for k, v in request["inputs"].items()})
    assert out["prediction"].shape[0] == 1
