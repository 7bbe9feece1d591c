"""Every configuration key and ``ORCH_*`` variable a document shows, checked against the loader.

A YAML block is one of: another tool's file (its info string names the tool, ```` ```yaml
falcosidekick ````), a playbook or a fragment of one, a detector file (``canaries``/``rules``),
or else the orchestrator's config, which must load through ``load_settings``. Variables must
name a setting (and load with the value shown), a secret's ``_FILE``, ``ORCH_CONFIG``, or a
variable another reader of the environment uses (the guard, the benchmarks, the tests). A table
whose first column lists settings must name real ones, and so must a dotted key in prose; a flat
name in prose that no code knows but that is close to a setting's (``database_pool_sise``,
``drill_tokens`` for ``drill.tokens``) is a misspelt setting.
"""

from __future__ import annotations

import ast
import difflib
import functools
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import ENV_PREFIX, Settings, load_settings
from orchestrator.detectors import load_canaries
from orchestrator.detectors.logrule import load_rules
from orchestrator.errors import ConfigError
from orchestrator.playbooks.json_schema import playbook_json_schema
from tests.docs.markdown import PROJECT, Block, Table, code_blocks, inline_code, tables
from tests.docs.settings_keys import (
    SAMPLE,
    env_path,
    flat_spellings,
    nested_keys,
    resolve,
    sample_value,
    secret_keys,
)

__all__ = ["config_problems"]

_VARIABLE = re.compile(r"\bORCH_[A-Z0-9_]*[A-Z0-9]\b(?![<*])")
_ASSIGNED = re.compile(r"\b(ORCH_[A-Z0-9_]*[A-Z0-9])=(\"[^\"]*\"|'[^']*'|\S*)")
_DOTTED = re.compile(r"^([a-z_]+(?:\.(?:[a-z_*]+|<[a-z]+>))+)(?=$|[:\s=])")
_KEY = re.compile(r"^[a-z_*]+$")
_FLAT = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")
_OTHER_READERS = [*(PROJECT / "orchestrator/guard").glob("*.py"), *(PROJECT / "benchmarks").glob("*.py")]
_OTHER_READERS.append(PROJECT / "tests/support/services.py")
_PLAYBOOK_KEYS = set(playbook_json_schema()["properties"])
_DETECTOR_FILES = {"canaries": load_canaries, "rules": load_rules}
# The tables whose header names the key each row's key sits under. Any other table whose first
# column mostly names top-level settings (a misspelt one counts) lists settings too.
_TABLE_HEADERS = {"key under `sources.<name>`": ["sources", "<name>"]}


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Only ``variables`` among the ORCH_* ones, for as long as the block runs."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        del os.environ[name]
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _string_constants(path: Path) -> set[str]:
    """String literals a module uses as values (docstrings excluded: naming is not reading)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def _other_readers_variables() -> set[str]:
    return set().union(*(_string_constants(path) for path in _OTHER_READERS))


def _variable_problem(name: str, value: str | None, readers: set[str]) -> str | None:
    """Why ``name`` (set to ``value``, or a sample) does not configure anything, or None."""
    if name == f"{ENV_PREFIX}CONFIG":
        return None if value is None else _loads({name: value})
    if name in readers:
        return None
    key = name.removeprefix(ENV_PREFIX).lower()
    if key.endswith("_file") and key.removesuffix("_file") in secret_keys():
        with tempfile.NamedTemporaryFile("w", suffix=".secret") as secret:
            secret.write(SAMPLE)
            secret.flush()
            return _loads({name: secret.name})
    try:
        annotation, default = resolve(env_path(name))
    except KeyError as exc:
        return f"{name}: no such setting ({exc.args[0]})"
    shown = value is not None and value not in ("", "...") and not value.startswith(("<", "$"))
    return _loads({name: value.strip("'\"") if shown and value else sample_value(annotation, default)})


def _loads(variables: dict[str, str], config: Path | None = None) -> str | None:
    with _environment(variables):
        try:
            load_settings(config)
        except ConfigError as exc:
            return str(exc)
    return None


def _yaml_block_problem(block: Block) -> str | None:
    if len(block.info.split()) > 1:
        return None  # another tool's file, named in the info string
    data: Any = yaml.safe_load(block.text)
    if isinstance(data, list) or (isinstance(data, dict) and set(data) <= _PLAYBOOK_KEYS):
        return None  # a playbook, or a fragment of one: docs/playbooks.md is its guide
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shown.yaml"
        path.write_text(block.text, encoding="utf-8")
        if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in _DETECTOR_FILES:
            try:
                _DETECTOR_FILES[next(iter(data))](path)
            except ConfigError as exc:
                return str(exc)
            return None
        return _loads({}, path)


@functools.cache
def _code_names() -> frozenset[str]:
    """The names the package's code knows, as strings or identifiers (a table, a limiter, a
    function): prose may name them, however close they are to a setting's."""
    names: set[str] = set()
    for path in (PROJECT / "orchestrator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
    return frozenset(names)


def _misspelt_setting(name: str) -> str | None:
    """The setting that ``name`` misspells: a flat name close to a setting's, neither a setting
    nor a name the code knows (``database_pool_sise``, ``drill_tokens``); else None."""
    if not _FLAT.match(name) or name in Settings.model_fields or name in _code_names():
        return None
    spellings = flat_spellings()
    close = difflib.get_close_matches(name, spellings, n=1, cutoff=0.85)
    return spellings[close[0]] if close else None


def _key_problem(key: str, under: list[str]) -> str | None:
    path = [*under, *key.split(".")]
    try:
        resolve(path)
    except KeyError as exc:
        meant = None if under else _misspelt_setting(key)
        hint = f"; did you mean {meant}?" if meant else ""
        return f"{'.'.join(path)}: no such setting ({exc.args[0]}){hint}"
    return None


def _settings_table(table: Table) -> tuple[list[str], list[str]] | None:
    """The keys a table's first column lists and the key they sit under; None for another table."""
    keys = [
        key
        for row in table.rows
        for key in re.findall(r"`([^`]+)`", row[0])
        if _KEY.match(key) or _DOTTED.match(key)
    ]
    under = _TABLE_HEADERS.get(table.header[0])
    if under is None:
        settings = [key for key in keys if _key_problem(key, []) is None or _misspelt_setting(key)]
        if not keys or 2 * len(settings) < len(keys):
            return None
    return keys, under or []


def config_problems(doc: Path) -> list[str]:
    """What in ``doc`` names a setting that does not exist, or shows a value that does not load."""
    problems: list[tuple[str, str | None]] = []
    readers = _other_readers_variables()
    blocks = code_blocks(doc)
    shown: dict[str, str] = {}
    for block in blocks:
        shown.update((name, value) for name, value in _ASSIGNED.findall(block.text))
        if block.language in ("yaml", "yml"):
            problems.append((block.where, _yaml_block_problem(block)))
    text = doc.read_text(encoding="utf-8")
    for name in sorted(set(_VARIABLE.findall(text))):
        problems.append((doc.name, _variable_problem(name, shown.get(name), readers)))
    listed: set[str] = set()
    for table in tables(doc):
        found = _settings_table(table)
        keys, under = found if found is not None else ([], [])
        listed.update(keys)
        problems += [(table.where, _key_problem(key, under)) for key in keys]
    # Only dotted names under a nested setting: `event.entities.hosts` or `orchestrator.purge`
    # are not settings, and nothing but their first key tells them apart. A flat name only when
    # it is nearly a setting's (a table above has reported those it lists).
    groups = nested_keys()
    for where, span in inline_code(doc):
        dotted = _DOTTED.match(span)
        if dotted and dotted.group(1).split(".")[0] in groups:
            problems.append((where, _key_problem(dotted.group(1), [])))
        elif span not in listed and _misspelt_setting(span):
            problems.append((where, _key_problem(span, [])))
    return [f"{where}: {problem}" for where, problem in problems if problem is not None]
