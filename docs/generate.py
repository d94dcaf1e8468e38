"""The docs' generated parts, so the pages cannot drift from the code or from the benchmarks' runs.

A page holds placeholders that `fill` replaces when MkDocs builds the site (docs/hooks.py):

- `{{ cli_reference }}`: every `embedflow` command and flag, read from the argparse parsers (embedflow/cli.py);
- `{{ spec_reference }}`: every key of a spec, read from the spec reader's key lists (features/spec.py, each
  transform kind, derivation and model type), described by docs/spec_keys.yaml; a key without a description,
  or a description of a key the reader does not take, fails the build;
- `{{ results:NAME }}`: the table of bench/results/NAME.json, which a benchmark wrote with `--results`
  (bench/results.py), with the command that printed it.

tests/test_docs.py calls these without MkDocs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, Iterable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # this checkout's modules, whatever is installed
    sys.path.insert(0, ROOT)

RESULTS_DIR = os.path.join(ROOT, "bench", "results")
SPEC_KEYS_FILE = os.path.join(ROOT, "docs", "spec_keys.yaml")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)(?::([A-Za-z0-9_-]+))?\s*\}\}")


class DocsError(Exception):
    """A page or a data file the docs are generated from is wrong; the message names it."""


def fill(markdown: str, page: str = "a page") -> str:
    """The page with every placeholder replaced; an unknown placeholder is an error naming the page."""
    def replace(match: re.Match) -> str:
        name, argument = match.group(1), match.group(2)
        if name == "cli_reference" and argument is None:
            return cli_reference()
        if name == "spec_reference" and argument is None:
            return spec_reference()
        if name == "results" and argument:
            return results_table(argument)
        raise DocsError(f"{page}: unknown placeholder {match.group(0)!r} (known: cli_reference, spec_reference, "
                        f"results:NAME)")

    return PLACEHOLDER.sub(replace, markdown)


def cell(value: Any) -> str:
    """A value as a Markdown table cell: thousands separated, nothing for None, pipes and tags escaped (outside
    code spans)."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    parts = text.replace("\n", " ").split("`")  # odd parts are code spans, where the table reads pipes as text
    return "`".join(part if i % 2 else part.replace("|", "\\|").replace("<", "&lt;") for i, part in enumerate(parts))


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI reference
def cli_reference() -> str:
    """A section per command: its one-line help and a table of its flags, from the parser the command uses."""
    from embedflow.cli import SUBCOMMANDS, add_verbosity_arguments, build_parser

    top = argparse.ArgumentParser(prog="embedflow", add_help=False)
    add_verbosity_arguments(top)
    parts = ["Global flags, before or after the command:\n", flag_table(top)]
    for name, (_, help_text, passes_through) in SUBCOMMANDS.items():
        sub = subparser(build_parser(name), name)
        through = ("\n\nFlags it does not know go to Beam's `PipelineOptions` (`--runner`, `--project`, "
                   "`--direct_num_workers`, ...).") if passes_through else ""
        parts.append(f"## {name}\n\n{help_text[0].upper() + help_text[1:]}.{through}\n\n{flag_table(sub)}")
    return "\n\n".join(parts) + "\n"


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def flag_table(parser: argparse.ArgumentParser) -> str:
    """Each flag as `--help` shows it (argparse's own formatter, so the invocation and %(default)s expansions are
    the same text), its default (not for on/off switches, whose default is their absence) and its help."""
    formatter = argparse.HelpFormatter(parser.prog, width=10_000)
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        switch = isinstance(action, argparse._StoreConstAction)  # store_true / store_false / store_const
        default = None if switch or action.default is argparse.SUPPRESS else action.default
        rows.append((f"`{formatter._format_action_invocation(action)}`",
                     "required" if action.required else f"`{default}`" if default is not None else "",
                     formatter._expand_help(action) if action.help else ""))
    return table(("flag", "default", "what it does"), rows)


# ---------------------------------------------------------------- spec reference
def spec_sections() -> dict[str, tuple[str, ...]]:
    """Section -> the keys the spec reader accepts there, from the code."""
    from features import derivations, model_types, spec, transforms

    sections = {"top level": spec.TOP_LEVEL_KEYS, "source": spec.SOURCE_KEYS, "columns.<name>": spec.COLUMN_KEYS,
                "derived.<name>": derivations.KINDS.names(), "join": spec.JOIN_KEYS,
                "deduplicate": spec.DEDUPLICATE_KEYS, "label": spec.LABEL_KEYS, "split": spec.SPLIT_KEYS,
                "features[] (every kind)": transforms.Feature.keys(),
                "model (every type)": model_types.ModelType.keys()}
    for kind in transforms.KINDS.names():
        sections[f"features[] with transform: {kind}"] = transforms.KINDS.get(kind).option_keys
    for name in model_types.TYPES.names():
        sections[f"model with type: {name}"] = model_types.TYPES.get(name).option_keys
    return sections


def spec_descriptions() -> dict[str, dict[str, str]]:
    """docs/spec_keys.yaml: section -> key -> meaning (features[] and model sections share one list each)."""
    import yaml

    with open(SPEC_KEYS_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def description_group(section: str) -> str:
    return "features[]" if section.startswith("features[]") else "model" if section.startswith("model") else section


def spec_reference() -> str:
    """A table per section: its keys (from the code) and what each means (docs/spec_keys.yaml)."""
    sections, described = spec_sections(), spec_descriptions()
    problems = []
    for section, keys in sections.items():
        for key in keys:
            if key not in described.get(description_group(section), {}):
                problems.append(f"'{key}' of section '{section}' has no description")
    for group, keys in described.items():
        taken = {k for s, ks in sections.items() if description_group(s) == group for k in ks}
        if group not in {description_group(s) for s in sections}:
            problems.append(f"section '{group}' is not a section of the spec")
        problems += [f"'{key}' of section '{group}' is not a key the spec reader takes" for key in keys
                     if key not in taken]
    if problems:
        raise DocsError(f"{os.path.relpath(SPEC_KEYS_FILE, ROOT)}: " + "; ".join(problems))
    return "\n\n".join(f"### `{section}`\n\n" + table(("key", "meaning"), ((f"`{k}`", described[description_group(
        section)][k]) for k in keys)) for section, keys in sections.items() if keys) + "\n"


# ---------------------------------------------------------------- benchmark results
def results_table(name: str) -> str:
    """bench/results/NAME.json as a table, its notes, and the command and date it comes from."""
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    if not os.path.exists(path):
        raise DocsError(f"no results file {os.path.relpath(path, ROOT)} (a benchmark writes it with --results)")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        columns, rows, source = data["columns"], data["rows"], data["source"]
        notes = "".join(f"- {cell(note)}\n" for note in data.get("notes", []))
        machine = f", {source['machine']}" if source.get("machine") else ""
        return (f"{table(columns, rows)}\n\n{notes}\nFrom `bench/results/{name}.json`: `{source['command']}` "
                f"({source['date']}{machine}; {source['how']}).\n")
    except (KeyError, TypeError) as e:
        raise DocsError(f"{os.path.relpath(path, ROOT)}: not a results table ({e!r})") from None
