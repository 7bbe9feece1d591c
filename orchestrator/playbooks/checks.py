"""Load-time checks of a parsed playbook: actions, params, templates, step order, handlers."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2.exceptions import TemplateSyntaxError
from pydantic import ValidationError

from orchestrator.errors import NotFound
from orchestrator.playbooks import templates
from orchestrator.playbooks.schemas import ParallelBlock, Playbook, RunHandlers, Step

if TYPE_CHECKING:
    from orchestrator.playbooks.action import ActionRegistry
    from orchestrator.playbooks.loader import DataPath, Source

__all__ = ["check_playbook"]


@dataclass(frozen=True)
class _Located:
    step: Step
    path: DataPath
    earlier: frozenset[str]
    handler: bool


def _suggest(word: str, options: list[str]) -> str:
    found = difflib.get_close_matches(word, options, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""


def _locate(playbook: Playbook) -> list[_Located]:
    located: list[_Located] = []
    earlier: set[str] = set()
    for i, unit in enumerate(playbook.steps):
        if isinstance(unit, ParallelBlock):
            before = frozenset(earlier)
            for j, step in enumerate(unit.steps):
                path: DataPath = ("steps", i, "parallel", "steps", j)
                located.append(_Located(step, path, before, False))
                earlier.add(step.id)
        else:
            located.append(_Located(unit, ("steps", i), frozenset(earlier), False))
            earlier.add(unit.id)
    main = frozenset(earlier)
    for k, step in enumerate(playbook.handlers):
        located.append(_Located(step, ("handlers", k), main, True))
    return located


def _check_ids(playbook: Playbook, src: Source) -> None:
    seen: dict[str, DataPath] = {}

    def claim(step_id: str, path: DataPath) -> None:
        if step_id in seen:
            line, _ = src.where((*seen[step_id], "id"))
            raise src.error((*path, "id"), f"duplicate step id {step_id!r} (first at line {line})")
        seen[step_id] = path

    for i, unit in enumerate(playbook.steps):
        if isinstance(unit, ParallelBlock):
            claim(unit.id, ("steps", i, "parallel"))
            for j, step in enumerate(unit.steps):
                claim(step.id, ("steps", i, "parallel", "steps", j))
        else:
            claim(unit.id, ("steps", i))
    for k, step in enumerate(playbook.handlers):
        claim(step.id, ("handlers", k))


def _is_templated(value: Any, loc: tuple[str | int, ...]) -> bool:
    """True when the param at ``loc`` (or a container holding it) is a template string."""
    current = value
    for part in loc:
        if templates.is_template(current):
            return True
        in_dict = isinstance(current, dict) and part in current
        if in_dict or (isinstance(current, list) and isinstance(part, int) and part < len(current)):
            current = current[part]
        else:
            return False
    return templates.is_template(current)


def _check_action(item: _Located, src: Source, registry: ActionRegistry) -> None:
    step = item.step
    try:
        action = registry.get(step.action)
    except NotFound:
        names = list(registry.names())
        hint = _suggest(step.action, names) or f"; available actions: {', '.join(names)}"
        raise src.error((*item.path, "action"), f"unknown action {step.action!r}{hint}") from None
    try:
        action.params.model_validate(step.with_)
    except ValidationError as exc:
        order = {"extra_forbidden": 0, "missing": 2}
        for error in sorted(exc.errors(), key=lambda e: order.get(e["type"], 1)):
            loc = tuple(error["loc"])
            if error["type"] != "missing" and _is_templated(step.with_, loc):
                continue  # checked when the step runs, once the template has a value
            where = (*item.path, "with", *loc)
            param = ".".join(str(p) for p in loc)
            if error["type"] == "extra_forbidden":
                fields = [f.alias or n for n, f in action.params.model_fields.items()]
                raise src.error(
                    where,
                    f"unknown param {param!r} for action {step.action!r}"
                    f"{_suggest(str(loc[-1]), fields)}; params: {', '.join(fields)}",
                    key=True,
                ) from None
            if error["type"] == "missing":
                raise src.error(
                    (*item.path, "with") if "with" in _keys_under(src, item.path) else item.path,
                    f"step {step.id!r}: action {step.action!r} needs param {param!r}",
                ) from None
            message = error["msg"].removeprefix("Value error, ")
            raise src.error(where, f"step {step.id!r} param {param!r}: {message}") from None


def _keys_under(src: Source, path: DataPath) -> set[str]:
    """Keys present under ``path`` in the source (for choosing where to point)."""
    depth = len(path)
    return {str(p[depth]) for p in src.keys if len(p) == depth + 1 and p[:depth] == path}


def _strings(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    if isinstance(value, str):
        yield value, path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _check_reference(
    ref: tuple[str, ...], item: _Located, playbook: Playbook, all_ids: set[str]
) -> str | None:
    root = ref[0]
    if root not in templates.ROOTS:
        hint = _suggest(root, list(templates.ROOTS))
        return f"undefined variable {root!r}{hint}; templates may read {', '.join(templates.ROOTS)}"
    if root == "inputs" and len(ref) > 1 and ref[1] not in playbook.inputs:
        known = ", ".join(playbook.inputs) or "none: only manual playbooks have inputs"
        return f"unknown input {ref[1]!r}{_suggest(ref[1], list(playbook.inputs))}; inputs: {known}"
    if root == "steps" and len(ref) > 1 and ref[1] not in item.earlier:
        target = ref[1]
        if target == item.step.id:
            return f"step {target!r} cannot read its own output"
        if target in all_ids:
            return f"step {target!r} does not run before step {item.step.id!r}"
        return f"unknown step {target!r}{_suggest(target, sorted(item.earlier))}"
    return None


def _check_templates(item: _Located, playbook: Playbook, src: Source, all_ids: set[str]) -> None:
    step = item.step
    found = list(_strings(step.with_, ("with",)))
    if step.when is not None:
        found.append((step.when, ("when",)))
    for text, rel in found:
        if rel == ("when",) and not templates.is_template(text):
            text = "{{ " + text + " }}"
        elif not templates.is_template(text):
            continue
        where = ".".join(str(p) for p in rel)
        try:
            refs = templates.check_template(text)
        except TemplateSyntaxError as exc:
            raise src.error(
                (*item.path, *rel), f"step {step.id!r} {where}: bad template syntax: {exc.message}"
            ) from None
        for ref in refs:
            problem = _check_reference(ref, item, playbook, all_ids)
            if problem:
                raise src.error((*item.path, *rel), f"step {step.id!r} {where}: {problem}")


def _check_handlers(located: list[_Located], playbook: Playbook, src: Source) -> None:
    handlers = {h.id: h for h in playbook.handlers}
    for item in located:
        policy = item.step.on_failure
        if not isinstance(policy, RunHandlers):
            continue
        for n, name in enumerate(policy.run):
            if name in handlers:
                continue
            where = (*item.path, "on_failure", "run", n)
            if any(other.step.id == name for other in located):
                raise src.error(
                    where,
                    f"{name!r} is a main step; on_failure can only run steps listed under 'handlers:'",
                )
            hint = _suggest(name, list(handlers)) or f"; handlers: {', '.join(handlers) or 'none'}"
            raise src.error(where, f"unknown handler {name!r}{hint}")
    paths = {item.step.id: item.path for item in located if item.handler}

    def visit(name: str, chain: list[str]) -> None:
        if name in chain:
            cycle = " -> ".join([*chain[chain.index(name) :], name])
            raise src.error((*paths[chain[-1]], "on_failure"), f"on_failure cycle: {cycle}")
        policy = handlers[name].on_failure
        if isinstance(policy, RunHandlers):
            for nxt in policy.run:
                visit(nxt, [*chain, name])

    for name in handlers:
        visit(name, [])


def check_playbook(playbook: Playbook, src: Source, registry: ActionRegistry) -> None:
    """Raise the first PlaybookError (with its position) found in ``playbook``."""
    _check_ids(playbook, src)
    located = _locate(playbook)
    all_ids = {item.step.id for item in located}
    for item in located:
        _check_action(item, src, registry)
    _check_handlers(located, playbook, src)
    for item in located:
        _check_templates(item, playbook, src, all_ids)
