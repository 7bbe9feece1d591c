"""Every configuration key and ``ORCH_*`` variable a document shows, checked against the loader.

A YAML block is one of: another tool's file (its info string names the tool, ```` ```yaml
falcosidekick ````), a playbook or a fragment of one, a detector file (``canaries``/``rules``),
or else the orchestrator's config, which must load through ``load_settings``. Variables must
name a setting (and load with the value shown), a secret's ``_FILE``, ``ORCH_CONFIG``, or a
variable another reader of the environment uses (the guard, the benchmarks, the tests).
"""

from __future__ import annotations

import ast
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import ENV_PREFIX, load_settings
from orchestrator.detectors import load_canaries
from orchestrator.detectors.logrule import load_rules
from orchestrator.errors import ConfigError
from orchestrator.playbooks.json_schema import playbook_json_schema
from tests.docs.markdown import PROJECT, Block, code_blocks, inline_code, tables
from tests.docs.settings_keys import SAMPLE, env_path, nested_keys, resolve, sample_value, secret_keys

__all__ = ["config_problems"]

_VARIABLE = re.compile(r"\bORCH_[A-Z0-9_]*[A-Z0-9]\b(?![<*])")
_ASSIGNED = re.compile(r"\b(ORCH_[A-Z0-9_]*[A-Z0-9])=(\"[^\"]*\"|'[^']*'|\S*)")
_DOTTED = re.compile(r"^([a-z_]+(?:\.(?:[a-z_*]+|<[a-z]+>))+)(?=$|[:\s=])")
_KEY = re.compile(r"^[a-z_*]+$")
_OTHER_READERS = [*(PROJECT / "orchestrator/guard").glob("*.py"), *(PROJECT / "benchmarks").glob("*.py")]
_OTHER_READERS.append(PROJECT / "tests/support/services.py")
_PLAYBOOK_KEYS = set(playbook_json_schema()["properties"])
_DETECTOR_FILES = {"canaries": load_canaries, "rules": load_rules}
# The tables whose first column holds settings, and the key each row's key sits under.
_TABLE_HEADERS = {"key / variable": [], "setting": [], "key under `sources.<name>`": ["sources", "<name>"]}


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


def _key_problem(key: str, under: list[str]) -> str | None:
    path = [*under, *key.split(".")]
    try:
        resolve(path)
    except KeyError as exc:
        return f"{'.'.join(path)}: no such setting ({exc.args[0]})"
    return None


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
    for table in tables(doc):
        under = _TABLE_HEADERS.get(table.header[0])
        if under is None:
            continue
        for row in table.rows:
            for key in re.findall(r"`([^`]+)`", row[0]):
                if _KEY.match(key) or _DOTTED.match(key):
                    problems.append((table.where, _key_problem(key, under)))
    # Only dotted names under a nested setting: `event.entities.hosts` or `orchestrator.purge`
    # are not settings, and nothing but their first key tells them apart.
    groups = nested_keys()
    for where, span in inline_code(doc):
        dotted = _DOTTED.match(span)
        if dotted and dotted.group(1).split(".")[0] in groups:
            problems.append((where, _key_problem(dotted.group(1), [])))
    return [f"{where}: {problem}" for where, problem in problems if problem is not None]
