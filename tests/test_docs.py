"""README stays a front door and the docs stay true: links resolve, generated pages build from the code and the
benchmarks' result files, and (where MkDocs is installed, as in CI) the site builds strict."""

import glob
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def generate():
    spec = importlib.util.spec_from_file_location("docs_generate", os.path.join(ROOT, "docs", "generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative_links(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:|#", link)]


def test_readme_is_a_front_door_of_at_most_250_lines():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= 250


@pytest.mark.parametrize("path", [os.path.join(ROOT, "README.md")] + PAGES, ids=os.path.basename)
def test_every_relative_link_resolves_to_a_file(path):
    missing = [link for link in relative_links(path)
               if not os.path.exists(os.path.join(os.path.dirname(path), link.split("#")[0]))]
    assert not missing, f"{os.path.relpath(path, ROOT)} links to missing files: {missing}"


def test_readme_links_every_docs_page():
    linked = {os.path.normpath(os.path.join(ROOT, link.split("#")[0]))
              for link in relative_links(os.path.join(ROOT, "README.md"))}
    assert {p for p in PAGES if not p.endswith("index.md")} <= linked


def test_the_cli_reference_has_every_command_and_flag():
    from embedflow.cli import SUBCOMMANDS, build_parser

    docs = generate()
    sections = re.split(r"^## ", docs.cli_reference(), flags=re.M)
    by_command = {section.split("\n", 1)[0]: section for section in sections[1:]}
    assert list(by_command) == list(SUBCOMMANDS)
    for name in SUBCOMMANDS:
        flags = [flag for action in docs.subparser(build_parser(name), name)._actions
                 if action.help != "==SUPPRESS==" for flag in action.option_strings if flag not in ("-h", "--help")]
        assert flags and all(f"`{flag}" in by_command[name] or f" {flag}" in by_command[name] for flag in flags), name


def test_the_spec_reference_describes_every_key_the_reader_takes(monkeypatch, tmp_path):
    docs = generate()
    text = docs.spec_reference()
    for section, keys in docs.spec_sections().items():
        assert f"### `{section}`" in text or not keys
        assert all(f"| `{key}` |" in text for key in keys)
    described = docs.spec_descriptions()
    del described["model"]["wide"]
    described["split"]["shuffle"] = "a key the reader does not take"
    monkeypatch.setattr(docs, "spec_descriptions", lambda: described)
    with pytest.raises(docs.DocsError, match=r"'wide' of section 'model with type: dnn' has no description.*"
                                             r"'shuffle' of section 'split' is not a key"):
        docs.spec_reference()


def test_every_results_placeholder_names_a_results_file_that_renders_with_its_command():
    docs = generate()
    named = {m.group(2) for page in PAGES for m in docs.PLACEHOLDER.finditer(open(page, encoding="utf-8").read())
             if m.group(1) == "results"}
    files = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(docs.RESULTS_DIR, "*.json"))}
    assert named == files, "every results file is shown on a page, and every page's results file exists"
    for name in files:
        with open(os.path.join(docs.RESULTS_DIR, f"{name}.json"), encoding="utf-8") as f:
            source = json.load(f)["source"]
        assert f"`{source['command']}`" in docs.results_table(name)
    with pytest.raises(docs.DocsError, match="no results file bench/results/nothing.json"):
        docs.fill("{{ results:nothing }}")
    with pytest.raises(docs.DocsError, match="page.md: unknown placeholder"):
        docs.fill("{{ figures }}", "page.md")


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs not installed (pip install -e '.[docs]')")
def test_the_site_builds_strict(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           os.path.join(ROOT, "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert os.path.exists(tmp_path / "site" / "cli" / "index.html")
