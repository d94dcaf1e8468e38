"""The code's shape: the trainer imports no Beam, and only kind classes know kind names."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIND_NAMES = ("vocabulary", "quantile_bucketize", "z_score", "hashed_cross", "two_tower", "dnn", "regex_extract",
              "ratio", "gradient_boosted_trees", "dnn_and_trees")
# `x.transform == "vocabulary"`, `type != 'dnn'`, `kind == "ratio"`, `in ("z_score", ...)`: choosing by kind name.
COMPARISON = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](%s)["']""" % "|".join(KIND_NAMES))


def test_training_imports_no_apache_beam():
    code = ("import sys, trainer.task, trainer.export; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'apache_beam'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"the trainer imported Beam modules: {out.stdout[:500]}"


def test_no_code_chooses_by_kind_name_outside_the_kind_classes():
    offenders = []
    for folder in ("stage_contracts", "features", "embedding_uses", "beam_jobs", "trainer", "retraining", "embedflow",
                   "bench"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        offenders += [f"{path}:{i}: {line.strip()}" for i, line in enumerate(f, 1)
                                      if COMPARISON.search(line)]
    assert not offenders, "kind names compared outside the kind classes:\n" + "\n".join(offenders)
