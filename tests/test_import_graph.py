"""The house by stage: which room may import which, read from every product module's own import statements.

`MAY_IMPORT` mirrors the "Folders" table of ARCHITECTURE.md: a room is a top-level package, and a room imports
only the rooms below it.  Imports are read with `ast`, those inside functions
included (a lazy import is still an arrow between rooms), so the checks need no TensorFlow or Beam and take a
second.  Change the table here and in ARCHITECTURE.md together.
"""

import ast
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# room (top-level package) -> the rooms it may import; listed from the lowest room up.
MAY_IMPORT = {
    "stage_contracts": set(),  # errors, manifest, statistics files, model dir, argument checks, progress, quiet
    "features": {"stage_contracts"},  # the spec and its kinds
    "embedding_uses": {"stage_contracts", "features"},  # index, top-K, neighbours, ranking score, pictures
    "beam_jobs": {"stage_contracts", "features", "embedding_uses"},  # Beam only
    "trainer": {"stage_contracts", "features", "embedding_uses"},  # fit, evaluate, export; never Beam
    "retraining": {"stage_contracts", "features", "embedding_uses", "beam_jobs", "trainer"},  # operations
    "embedflow": {"stage_contracts", "features", "embedding_uses", "beam_jobs", "trainer", "retraining"},  # CLI, API
}

# beam_jobs modules that import no Beam themselves, each a piece of one Beam job, imported by no other room.
BEAM_FREE_PARTS = {
    "beam_jobs.analysis_cache": "the preprocess job's TFT analyzer cache on disk (tf.io), written whole or not at all",
    "beam_jobs.dedupe": "the preprocess job's duplicate-key step on Arrow batches; it needs parse.py's rejection rows",
    "beam_jobs.records": "what one record of a delimited file is, for parse.py's chunks and line numbers",
    "beam_jobs.transform": "the TFT side of the preprocess job (Arrow input, packed analyzers): tft and tfx_bsl",
}
# ...and the one the CLI and the API import too: a job's typed config is light, so `--help` and
# `import embedflow` stay instant.
BEAM_FREE_API = {"beam_jobs.config": "PreprocessConfig, what one preprocess run is told"}

# Arrows against the table that wait for their fix, each (module, the room it imports); an entry that no longer
# occurs fails the test, so the list only shrinks.  All three are `if __name__ == "__main__":` blocks that run the
# CLI, kept for `python -m trainer.task` (vertex/Dockerfile) and `python -m beam_jobs.preprocess` entry points.
KNOWN_ARROWS_UP = {
    ("beam_jobs.preprocess", "embedflow"),
    ("trainer.task", "embedflow"),
    ("retraining.retrain", "embedflow"),
}


def _modules() -> dict[str, str]:
    """Every product module's dotted name -> its file."""
    found = {}
    for room in MAY_IMPORT:
        for dirpath, dirnames, files in os.walk(os.path.join(ROOT, room)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    dotted = os.path.relpath(os.path.join(dirpath, name), ROOT)[:-3].replace(os.sep, ".")
                    found[dotted.removesuffix(".__init__")] = os.path.join(dirpath, name)
    return found


MODULES = _modules()


def _is_main_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and any(isinstance(c, ast.Constant) and c.value == "__main__"
                                                    for c in test.comparators))


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported name, inside a `__main__` block) for every import statement of the module, at any depth.

    `from pkg import name` counts as `pkg.name` when that is a module, else as `pkg`."""
    with open(MODULES[module], encoding="utf-8") as f:
        tree = ast.parse(f.read(), MODULES[module])
    in_main = {id(n) for block in tree.body if _is_main_block(block) for n in ast.walk(block)}
    package = module if MODULES[module].endswith("__init__.py") else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in in_main) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found += [(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, id(node) in in_main)
                      for alias in node.names]
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _room(name: str) -> str:
    return name.split(".")[0]


def test_the_table_lists_every_product_package_and_is_ordered():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        included = {p.rstrip("*") for p in tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert included == set(MAY_IMPORT), "pyproject.toml's packages and the rooms of this table differ"
    rooms = list(MAY_IMPORT)
    for i, room in enumerate(rooms):
        assert MAY_IMPORT[room] <= set(rooms[:i]), f"{room} may import a room listed above it (not below)"


def test_no_room_imports_a_room_above_it():
    seen_up, offenders = set(), []
    for module, imports in GRAPH.items():
        for name, in_main in imports:
            room, target = _room(module), _room(name)
            if target in MAY_IMPORT and target != room and target not in MAY_IMPORT[room]:
                if (module, target) in KNOWN_ARROWS_UP and in_main:
                    seen_up.add((module, target))
                else:
                    offenders.append(f"{module} ({room}) imports {name} ({target})")
    assert not offenders, "imports against ARCHITECTURE.md's may-import table:\n" + "\n".join(sorted(offenders))
    assert seen_up == KNOWN_ARROWS_UP, f"fixed, remove from KNOWN_ARROWS_UP: {sorted(KNOWN_ARROWS_UP - seen_up)}"


def test_no_cycle_between_rooms():
    arrows = {room: set() for room in MAY_IMPORT}
    for module, imports in GRAPH.items():
        arrows[_room(module)] |= {_room(n) for n, in_main in imports if _room(n) in MAY_IMPORT and not in_main}
    state: dict[str, str] = {}

    def visit(room: str, path: list[str]) -> None:
        state[room] = "open"
        for target in sorted(arrows[room] - {room}):
            assert state.get(target) != "open", "rooms import each other: " + " -> ".join(path + [room, target])
            if target not in state:
                visit(target, path + [room])
        state[room] = "done"

    for room in MAY_IMPORT:
        if room not in state:
            visit(room, [])


def test_beam_jobs_import_no_trainer_module():
    offenders = [f"{m} imports {n}" for m, imports in GRAPH.items() if _room(m) == "beam_jobs"
                 for n, _ in imports if _room(n) == "trainer"]
    assert not offenders, "\n".join(offenders)


def test_every_beam_jobs_module_imports_beam_and_only_beam_jobs_do():
    beam = {m for m, imports in GRAPH.items()
            if any(_room(n) == "apache_beam" or n.startswith("tensorflow_transform.beam") for n, _ in imports)}
    jobs = {m for m in MODULES if _room(m) == "beam_jobs" and m != "beam_jobs"}
    exempt = set(BEAM_FREE_PARTS) | set(BEAM_FREE_API)
    assert not jobs - beam - exempt, f"beam_jobs modules without Beam (each to its idea's room): {jobs - beam - exempt}"
    assert exempt & beam == set() and exempt <= jobs, "stale entries in BEAM_FREE_PARTS / BEAM_FREE_API"
    assert beam <= jobs, f"Beam imported outside beam_jobs: {sorted(beam - jobs)}"


def test_beam_free_parts_of_a_job_stay_inside_beam_jobs():
    offenders = [f"{m} imports {n}" for m, imports in GRAPH.items() if _room(m) != "beam_jobs"
                 for n, _ in imports if n in BEAM_FREE_PARTS]
    assert not offenders, "a Beam-free part of a job used by another room belongs in that idea's room:\n" + \
        "\n".join(offenders)
