#!/usr/bin/env bash
# CI: the project as users install it, not editable.  Builds the sdist and the wheel (the wheel is built from
# the sdist, as pip does), installs the wheel into a fresh venv and, from a folder outside the checkout, runs
# every command's --help, the images' entry points (the Flex Template launcher, `python -m trainer.task`) and a
# small end to end: sample-data -> preprocess -> train -> recommend.  Fails on any module or data file
# missing from the wheel.
#
#   bash .ci/wheel_check.sh [SOURCE_DIR]     # default: this checkout
#
# Needs `python -m build` and setuptools in $PYTHON's environment (default: python on PATH; the project's own
# install has both, .ci/run gives it a venv of just those two); builds with --no-isolation, so nothing is
# downloaded for the build itself.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
src="$(cd "${1:-$here}" && pwd)"
python="$(command -v "${PYTHON:-python}")"
case "$python" in /*) ;; *) python="$PWD/$python" ;; esac
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
start=$SECONDS
step() { echo "--- wheel check: $* ($((SECONDS - start)) s)"; }

step "build sdist + wheel from $src"
# A copy without build outputs, so a stale build/ or *.egg-info cannot add (or hide) a file.
mkdir "$scratch/src"
tar -C "$src" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=./runs -cf - . | tar -C "$scratch/src" -xf -
"$python" -m build --no-isolation --outdir "$scratch/dist" "$scratch/src" >"$scratch/build.log" 2>&1 \
    || { tail -30 "$scratch/build.log"; exit 1; }
sdist=$(ls "$scratch"/dist/embedflow-*.tar.gz)
wheel=$(ls "$scratch"/dist/embedflow-*.whl)

step "every module and data file of the packages is in the sdist and the wheel"
"$python" - "$scratch/src" "$sdist" "$wheel" <<'EOF'
import os, sys, tarfile, zipfile
src, sdist, wheel = sys.argv[1:]
expected = set()
for package in ("stage_contracts", "features", "embedding_uses", "beam_jobs", "trainer", "retraining", "embedflow"):
    for root, dirs, files in os.walk(os.path.join(src, package)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        expected |= {os.path.relpath(os.path.join(root, f), src) for f in files if not f.endswith((".pyc", ".pyo"))}
in_wheel = set(zipfile.ZipFile(wheel).namelist())
top = tarfile.open(sdist).getnames()[0].split("/")[0]
in_sdist = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
missing = {"wheel": sorted(expected - in_wheel), "sdist": sorted(expected - in_sdist)}
for where, names in missing.items():
    for name in names:
        print(f"missing from the {where}: {name}", file=sys.stderr)
sys.exit(1 if any(missing.values()) else 0)
EOF

step "install the wheel into a fresh venv"
python3.11 -m venv "$scratch/venv" 2>/dev/null || python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --no-cache-dir "$wheel" >"$scratch/pip.log" 2>&1 \
    || { grep -v "^WARNING: Location .* is ignored" "$scratch/pip.log" | tail -30; exit 1; }
bin="$scratch/venv/bin"

# From outside the checkout: nothing can be imported from the source tree.
work="$scratch/work"
mkdir "$work"
cd "$work"
# Keep a stray PYTHONPATH from pointing back into a source tree.
unset PYTHONPATH
"$bin/python" - "$src" <<'EOF'
import os, sys, embedflow
src = sys.argv[1]
where = os.path.dirname(os.path.dirname(os.path.abspath(embedflow.__file__)))
assert not where.startswith(src), f"embedflow imported from the source tree ({where})"
print(f"embedflow imported from {where}")
EOF

step "embedflow COMMAND --help for every command"
commands=$("$bin/python" -c "
import argparse
from embedflow.cli import build_parser
sub = next(a for a in build_parser(None)._actions if isinstance(a, argparse._SubParsersAction))
print(' '.join(sub.choices))")
[ -n "$commands" ]
"$bin/embedflow" --help >/dev/null
for command in $commands; do
    "$bin/embedflow" "$command" --help >"$scratch/help.txt" 2>&1 || { cat "$scratch/help.txt"; echo "FAILED: embedflow $command --help"; exit 1; }
    grep -q "^usage: embedflow $command" "$scratch/help.txt" || { cat "$scratch/help.txt"; exit 1; }
done
echo "ok: $(wc -w <<<"$commands") commands: $commands"
"$bin/embedflow" describe --spec movielens >/dev/null    # a built-in spec: package data
"$bin/embedflow" describe --spec housing >/dev/null

step "the images' entry points: python -m trainer.task, python -m beam_jobs.preprocess, the Flex Template launcher"
# Vertex AI training image (vertex/Dockerfile): python -m trainer.task
"$bin/python" -m trainer.task --help | grep -q "^usage: embedflow train"
"$bin/python" -m beam_jobs.preprocess --help | grep -q "^usage: embedflow preprocess"
# Flex Template image (flex_template/Dockerfile): the launcher file, copied beside nothing else, as in the image.
mkdir "$scratch/template"
cp "$src/flex_template/launch_preprocess.py" "$scratch/template/"
"$bin/python" "$scratch/template/launch_preprocess.py" --help | grep -q "^usage: embedflow preprocess"

step "end to end: sample-data -> preprocess -> train -> recommend"
"$bin/embedflow" -q sample-data --output data --users 60 --movies 300 --ratings 3000
"$bin/embedflow" -q preprocess --input data --output prep
"$bin/embedflow" -q train --input prep --job-dir job --epochs 1
"$bin/embedflow" recommend --user 1 --model job/model -k 5 | tee "$scratch/recs.txt"
[ -s "$scratch/recs.txt" ]

step "the Flex Template launcher builds a Dataflow job (dry run, offline), with the flags the launcher passes"
"$bin/python" "$scratch/template/launch_preprocess.py" --input=gs://my-bucket/ml-25m --output=gs://my-bucket/prep \
    --spec=movielens --runner=DataflowRunner --project=my-project --region=europe-west1 \
    --temp_location=gs://my-bucket/tmp --sdk_container_image=europe-west1-docker.pkg.dev/p/embedflow/preprocess:1 \
    --dry_run=True --no_auth >"$scratch/dry_run.txt" 2>&1 || { cat "$scratch/dry_run.txt"; exit 1; }
grep -q "^  Analyze$" "$scratch/dry_run.txt" || { cat "$scratch/dry_run.txt"; exit 1; }
# Without the image, from a wheel install: the wheel itself is staged for the workers (README, Staging).
"$bin/embedflow" preprocess --input data --output gs://my-bucket/prep2 --runner=DataflowRunner --project=my-project \
    --region=europe-west1 --temp_location=gs://my-bucket/tmp --extra_package="$wheel" --dry_run=True --no_auth \
    >"$scratch/dry_run.txt" 2>&1 || { cat "$scratch/dry_run.txt"; exit 1; }
grep -q "^  $(basename "$wheel")$" "$scratch/dry_run.txt" || { cat "$scratch/dry_run.txt"; exit 1; }

step "passed"
