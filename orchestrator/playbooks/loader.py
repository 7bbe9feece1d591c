"""Reads playbook YAML into validated Playbooks; every error reads ``file:line:column: reason``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from orchestrator.errors import PlaybookError
from orchestrator.playbooks import checks, json_schema
from orchestrator.playbooks.schemas import NAME_PATTERN, STEP_ID_PATTERN, Playbook

if TYPE_CHECKING:
    from orchestrator.playbooks.action import ActionRegistry

__all__ = ["Source", "load_playbook", "load_playbooks", "parse_playbook"]

DataPath = tuple[str | int, ...]
MAX_NODES = 50_000
MAX_DEPTH = 40

_ANY = object
_NUM_OR_DURATION: tuple[type, ...] = (int, float, str)
# key -> allowed python types, for each kind of mapping; required keys listed apart.
_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "playbook": {
        "name": (str,),
        "description": (str,),
        "version": (str, int, float),
        "trigger": (dict,),
        "steps": (list,),
        "handlers": (list,),
    },
    "trigger": {"match": (dict,), "manual": (dict,)},
    "match": {
        "kinds": (list,),
        "min_severity": (str,),
        "max_severity": (str,),
        "sources": (list,),
        "labels": (dict,),
        "entities": (list,),
    },
    "manual": {"inputs": (dict,)},
    "input": {
        "type": (str,),
        "description": (str,),
        "required": (bool,),
        "default": (_ANY,),
        "choices": (list,),
    },
    "step": {
        "id": (str,),
        "action": (str,),
        "with": (dict,),
        "description": (str,),
        "when": (str, bool),
        "retry": (dict,),
        "timeout": _NUM_OR_DURATION,
        "on_failure": (str, dict),
        "approval": (dict,),
    },
    "parallel block": {"parallel": (dict,)},
    "parallel": {"id": (str,), "description": (str,), "steps": (list,)},
    "retry": {"attempts": (int,), "backoff": _NUM_OR_DURATION, "max_backoff": _NUM_OR_DURATION},
    "approval": {"approvers": (list,), "timeout": _NUM_OR_DURATION, "on_timeout": (str,)},
    "on_failure": {"run": (list,), "then": (str,)},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "playbook": ("name", "trigger", "steps"),
    "step": ("id", "action"),
    "parallel": ("id", "steps"),
    "on_failure": ("run",),
}
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


def closest(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest option, or an empty string."""
    found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


@dataclass
class Source:
    """One playbook file's name and the position of every node, for error messages."""

    filename: str
    values: dict[DataPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DataPath, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: DataPath, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the node at ``path`` (or its key), else of its nearest parent."""
        table = self.keys if key else self.values
        while path not in table and path:
            path = path[:-1]
            table = self.values
        return table.get(path, (1, 1))

    def error(self, path: DataPath, message: str, *, key: bool = False) -> PlaybookError:
        line, column = self.where(path, key=key)
        return PlaybookError(f"{self.filename}:{line}:{column}: {message}")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _to_data(loader: yaml.SafeLoader, node: yaml.Node, path: DataPath, src: Source) -> Any:
    src.values[path] = _mark(node)
    # Aliases share nodes; caps stop "billion laughs" expansions and self-referencing anchors.
    if len(src.values) > MAX_NODES or len(path) > MAX_DEPTH:
        line, column = _mark(node)
        raise PlaybookError(
            f"{src.filename}:{line}:{column}: playbook too large or too deeply nested "
            f"(over {MAX_NODES} values or {MAX_DEPTH} levels)"
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                line, column = src.keys[(*path, key)]
                here, col = _mark(key_node)
                raise PlaybookError(
                    f"{src.filename}:{here}:{col}: duplicate key {key!r}"
                    f" (first at line {line}, column {column})"
                )
            src.keys[(*path, key)] = _mark(key_node)
            out[key] = _to_data(loader, value_node, (*path, key), src)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(loader, item, (*path, i), src) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _read_yaml(text: str, filename: str) -> tuple[Any, Source]:
    src = Source(filename)
    try:
        loader = yaml.SafeLoader(text)  # reads the first chunk: may refuse a control character
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{filename}:1:1: invalid YAML: {exc}") from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise PlaybookError(f"{filename}:1:1: the file is empty; a playbook is a mapping")
        data = _to_data(loader, node, (), src)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise PlaybookError(f"{filename}:{line}:{column}: invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{filename}:1:1: invalid YAML: {exc}") from exc
    except RecursionError as exc:  # the YAML composer recurses once per nesting level
        raise PlaybookError(f"{filename}:1:1: playbook nested too deeply") from exc
    finally:
        loader.dispose()
    return data, src


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a mapping",
        list: "a list",
    }.get(type(value), type(value).__name__)


def _check_mapping(value: Any, kind: str, path: DataPath, src: Source, label: str) -> None:
    if not isinstance(value, dict):
        raise src.error(path, f"{label} must be a mapping, got {_kind_of(value)}")
    allowed = _KEYS[kind]
    for key, item in value.items():
        if key not in allowed:
            raise src.error(
                (*path, key),
                f"unknown key {key!r} in {label}{closest(key, allowed)}; valid keys: {', '.join(allowed)}",
                key=True,
            )
        types = allowed[key]
        ok = _ANY in types or (isinstance(item, types) and not (isinstance(item, bool) and bool not in types))
        if not ok:
            hint = ""
            if isinstance(item, bool) and str in types:
                hint = " (quote it: YAML reads yes, no, on and off as true/false)"
            raise src.error(
                (*path, key),
                f"{key!r} in {label} must be {_type_name(types)}, got {_kind_of(item)}{hint}",
            )
    for key in _REQUIRED.get(kind, ()):
        if key not in value:
            raise src.error(path, f"{label} is missing required key {key!r}")


def _check_id(step_id: str, path: DataPath, src: Source) -> None:
    if not re.fullmatch(STEP_ID_PATTERN, step_id):
        raise src.error(
            path,
            f"step id {step_id!r} must start with a letter or '_' and hold only letters, "
            "digits and '_' (templates read it as steps.<id>)",
        )


def _check_steps(items: list[Any], path: DataPath, src: Source, *, blocks: bool) -> None:
    for i, item in enumerate(items):
        where = (*path, i)
        if blocks and isinstance(item, dict) and "parallel" in item:
            _check_mapping(item, "parallel block", where, src, "parallel block")
            group = item["parallel"]
            _check_mapping(group, "parallel", (*where, "parallel"), src, "parallel block")
            _check_id(group["id"], (*where, "parallel", "id"), src)
            _check_steps(group["steps"], (*where, "parallel", "steps"), src, blocks=False)
            continue
        name = item.get("id") if isinstance(item, dict) else None
        label = f"step {name!r}" if isinstance(name, str) else f"step #{i + 1}"
        _check_mapping(item, "step", where, src, label)
        _check_id(item["id"], (*where, "id"), src)
        for sub in ("retry", "approval"):
            if sub in item:
                _check_mapping(item[sub], sub, (*where, sub), src, f"{sub} of {label}")
        if isinstance(item.get("on_failure"), dict):
            _check_mapping(
                item["on_failure"], "on_failure", (*where, "on_failure"), src, f"on_failure of {label}"
            )


def _check_structure(data: Any, src: Source) -> None:
    _check_mapping(data, "playbook", (), src, "playbook")
    if not re.fullmatch(NAME_PATTERN, data["name"]):
        raise src.error(
            ("name",),
            f"playbook name {data['name']!r} must start with a letter or digit and hold only "
            "letters, digits, '_', '-' and '.'",
        )
    _check_mapping(data["trigger"], "trigger", ("trigger",), src, "trigger")
    trigger = data["trigger"]
    if len(trigger) != 1:
        raise src.error(("trigger",), "trigger needs exactly one of 'match' or 'manual'")
    if "match" in trigger:
        _check_mapping(trigger["match"], "match", ("trigger", "match"), src, "match trigger")
    else:
        manual = trigger["manual"]
        _check_mapping(manual, "manual", ("trigger", "manual"), src, "manual trigger")
        for name, spec in manual.get("inputs", {}).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise src.error(
                    ("trigger", "manual", "inputs", name),
                    f"input name {name!r} must hold only letters, digits and '_' "
                    "(templates read it as inputs.<name>)",
                    key=True,
                )
            _check_mapping(spec, "input", ("trigger", "manual", "inputs", name), src, f"input {name!r}")
    if not data["steps"]:
        raise src.error(("steps",), "a playbook needs at least one step")
    _check_steps(data["steps"], ("steps",), src, blocks=True)
    _check_steps(data.get("handlers", []), ("handlers",), src, blocks=False)


def _label(data: Any, path: DataPath) -> str:
    """``step 'x' retry.attempts`` for a path into a step, else the dotted path."""
    label: list[str] = []
    current = data
    for part in path:
        current = current[part]
        label.append(str(part))
        if isinstance(current, dict) and isinstance(current.get("id"), str):
            label = [f"step {current['id']!r}" if "action" in current else f"block {current['id']!r}"]
        elif isinstance(current, dict) and "parallel" in current:
            label = []
    if label and label[0].startswith(("step ", "block ")):
        return " ".join([label[0], ".".join(label[1:])]).strip()
    return ".".join(label) or "playbook"


def _data_path(data: Any, loc: Iterable[str | int]) -> DataPath:
    """A pydantic error location mapped onto the data (union tags and model names dropped)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        if in_dict or (isinstance(current, list) and isinstance(part, int) and part < len(current)):
            current = current[part]
        else:
            continue
        path.append(part)
    return tuple(path)


def _parse(text: str, filename: str, registry: ActionRegistry) -> tuple[Playbook, Source]:
    data, src = _read_yaml(text, filename)
    _check_structure(data, src)
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _data_path(data, first["loc"])
        label = _label(data, path)
        message = first["msg"].removeprefix("Value error, ")
        raise src.error(path, f"{label}: {message}") from exc
    checks.check_playbook(playbook, src, registry)
    errors = json_schema.validation_errors(data)
    if errors:
        path, message = errors[0]
        raise src.error(path, f"does not fit playbook.schema.json: {message}")
    return playbook, src


def parse_playbook(text: str, filename: str = "<playbook>", *, registry: ActionRegistry) -> Playbook:
    """Parse and validate playbook YAML ``text`` against the actions of ``registry``;
    PlaybookError says ``file:line:column``."""
    return _parse(text, filename, registry)[0]


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"{path}:1:1: cannot read the file: {exc}") from exc


def load_playbook(path: str | Path, *, registry: ActionRegistry) -> Playbook:
    """The playbook in file ``path``, validated; PlaybookError with ``file:line:column``."""
    return _parse(_read(path), str(path), registry)[0]


def load_playbooks(
    dirs: Iterable[str | Path] | str | Path, *, registry: ActionRegistry
) -> dict[str, Playbook]:
    """Every ``*.yaml``/``*.yml`` playbook in ``dirs`` by name; the first invalid one raises.

    Two files declaring the same ``name`` raise, pointing at the second one's ``name``. One file
    reached through two paths (a folder listed twice, a link to it, the shipped folder also
    named in ``playbook_dirs``) is one playbook, loaded once.
    """
    folders = [dirs] if isinstance(dirs, str | Path) else list(dirs)
    found: dict[str, Playbook] = {}
    first_at: dict[str, str] = {}
    seen: set[Path] = set()
    for folder in folders:
        files = sorted(p for p in Path(folder).iterdir() if p.suffix in {".yaml", ".yml"})
        for file in files:
            if file.resolve() in seen:
                continue
            seen.add(file.resolve())
            playbook, src = _parse(_read(file), str(file), registry)
            if playbook.name in found:
                raise src.error(
                    ("name",),
                    f"duplicate playbook name {playbook.name!r} (also defined at {first_at[playbook.name]})",
                )
            found[playbook.name] = playbook
            line, column = src.where(("name",))
            first_at[playbook.name] = f"{file}:{line}:{column}"
    return found
