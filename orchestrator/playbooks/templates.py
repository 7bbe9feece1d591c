"""Sandboxed Jinja2 templates for step params and conditions: render, evaluate, check."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

from orchestrator.errors import ActionError

__all__ = [
    "FILTERS",
    "ROOTS",
    "TemplateFailed",
    "build_context",
    "check_template",
    "evaluate_condition",
    "is_template",
    "render",
    "render_params",
]

ROOTS = ("event", "incident", "inputs", "steps", "run")
MAX_OUTPUT = 100_000
MAX_SEQUENCE = 10_000
MAX_INT_BITS = 4096
_SINGLE = re.compile(r"\A\s*\{\{(?P<expr>.*)\}\}\s*\Z", re.DOTALL)
_FALSE_WORDS = frozenset({"", "false", "no", "0", "off", "none", "null"})
# Methods templates may call on plain values; nothing else is reachable.
_SAFE_METHODS: dict[type, frozenset[str]] = {
    dict: frozenset({"get", "items", "keys", "values"}),
    str: frozenset({"lower", "upper", "strip", "startswith", "endswith", "split", "replace"}),
}


class TemplateFailed(ActionError):
    """A template could not be rendered; never retryable since the inputs will not change."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def _tojson(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    return bool(value)


class _Environment(ImmutableSandboxedEnvironment):
    """Sandbox that only reads dict keys and list items and caps costly operators."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        allowed = _SAFE_METHODS.get(type(obj), frozenset())
        return attr in allowed and super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()  # raises, naming the first missing part
        if isinstance(obj, dict):
            if attribute in obj:
                return obj[attribute]
            if attribute in _SAFE_METHODS[dict]:
                return getattr(obj, attribute)
            return self.undefined(obj=obj, name=attribute)
        if type(obj) in _SAFE_METHODS and attribute in _SAFE_METHODS[type(obj)]:
            return getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        if isinstance(obj, dict) and isinstance(argument, str):
            return obj[argument] if argument in obj else self.undefined(obj=obj, name=argument)
        if isinstance(obj, list | tuple | str) and isinstance(argument, int | slice):
            try:
                return obj[argument]
            except IndexError:
                return self.undefined(obj=obj, name=str(argument))
        return self.undefined(obj=obj, name=str(argument))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large in template")
            ints = isinstance(left, int) and isinstance(right, int) and right > 0
            if ints and left.bit_length() * right > MAX_INT_BITS:
                raise SecurityError("power too large in template")
            return left**right
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_OUTPUT:
                    raise SecurityError("repeated sequence too large in template")
            return left * right
        result = left + right
        if isinstance(result, str | list | tuple) and len(result) > MAX_OUTPUT:
            raise SecurityError("concatenation too large in template")
        return result


def _build_environment() -> _Environment:
    env = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    builtin = env.filters
    env.filters = {
        name: builtin[name]
        for name in (
            "default",
            "d",
            "join",
            "length",
            "count",
            "lower",
            "upper",
            "trim",
            "first",
            "last",
            "int",
            "string",
            "replace",
            "list",
            "unique",
            "sort",
            "truncate",
        )
        if name in builtin
    }
    env.filters["tojson"] = _tojson
    env.filters["bool"] = _truthy
    env.tests = {
        name: env.tests[name]
        for name in ("defined", "undefined", "none", "string", "number", "mapping", "sequence", "in")
    }
    return env


FILTERS: tuple[str, ...] = ()
_ENV = _build_environment()
FILTERS = tuple(sorted(_ENV.filters))


def is_template(value: Any) -> bool:
    """True when ``value`` is a string holding template syntax (``{{``, ``{%`` or ``{#``)."""
    return isinstance(value, str) and any(m in value for m in ("{{", "{%", "{#"))


def _single_expression(template: str) -> str | None:
    found = _SINGLE.match(template)
    if found is None:
        return None
    body = _ENV.parse(template.strip()).body
    single = len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1
    if single and not isinstance(body[0].nodes[0], nodes.TemplateData):  # type: ignore[attr-defined]
        return found.group("expr")
    return None


def _plain(value: Any, depth: int = 0) -> Any:
    """A copy made only of JSON-like values, so results never share the context's objects."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here, naming the missing variable.
    if depth > 32:
        raise SecurityError("template result nested too deeply")
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if len(value) > MAX_SEQUENCE:
            raise SecurityError("template result too long")
        return [_plain(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _as_plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return _plain(value)


def build_context(
    *,
    event: Any = None,
    incident: Any = None,
    inputs: Mapping[str, Any] | None = None,
    steps: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context: the five roots as plain dicts (pydantic models are dumped).

    ``steps`` maps a step id to ``{"status", "output", "error"}`` for every step that
    finished; ``run`` holds at least ``id`` and ``dry_run``.
    """
    return {
        "event": _as_plain(event) if event is not None else {},
        "incident": _as_plain(incident) if incident is not None else {},
        "inputs": _plain(dict(inputs or {})),
        "steps": {str(k): _as_plain(v) for k, v in (steps or {}).items()},
        "run": _plain(dict(run or {})),
    }


def render(template: str, ctx: Mapping[str, Any]) -> Any:
    """Render ``template``; exactly one ``{{ expr }}`` yields the native value, else a string.

    Raises TemplateFailed for syntax errors, undefined variables and sandbox violations.
    """
    try:
        expr = _single_expression(template)
        if expr is not None:
            return _plain(_ENV.compile_expression(expr, undefined_to_none=False)(**ctx))
        text = _ENV.from_string(template).render(**ctx)
    except (
        TemplateError,
        ArithmeticError,
        AttributeError,
        LookupError,
        TypeError,
        ValueError,
        RecursionError,
    ) as exc:
        raise TemplateFailed(_describe(exc)) from exc
    if len(text) > MAX_OUTPUT:
        raise TemplateFailed("template output too large")
    return text


def evaluate_condition(expression: str, ctx: Mapping[str, Any]) -> bool:
    """Truth of a ``when`` expression, written bare (``a == 1``) or as ``{{ a == 1 }}``.

    Strings such as ``"false"``, ``"no"``, ``"0"`` and ``""`` count as false.
    """
    source = expression if is_template(expression) else "{{ " + expression + " }}"
    return _truthy(render(source, ctx))


def render_params(
    params: Mapping[str, Any], ctx: Mapping[str, Any], *, step_id: str | None = None
) -> dict[str, Any]:
    """``params`` with every templated string rendered, walking nested dicts and lists."""

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, str):
            if not is_template(value):
                return value
            try:
                return render(value, ctx)
            except TemplateFailed as exc:
                where = f"step {step_id!r} param {path!r}" if step_id else f"param {path!r}"
                raise TemplateFailed(f"{where}: {exc}") from exc
        if isinstance(value, Mapping):
            return {str(k): walk(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    return {str(key): walk(value, str(key)) for key, value in params.items()}


def _path_of(node: nodes.Node) -> list[str] | None:
    """``a.b['c']`` as ``["a", "b", "c"]``; None when a part is not a constant."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        base = _path_of(node.node)
        return None if base is None else [*base, node.attr]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _path_of(node.node)
        return None if base is None else [*base, str(node.arg.value)]
    return None


def check_template(template: str) -> list[tuple[str, ...]]:
    """Variable paths a template reads from its context, longest known prefix each.

    ``"{{ steps.fetch.output.id }}"`` gives ``[("steps", "fetch", "output", "id")]``.
    Names the template binds itself (``{% set %}``, loop variables) are left out.
    Raises TemplateSyntaxError (with ``lineno``) when the template does not parse.
    """
    tree = _ENV.parse(template)
    free = meta.find_undeclared_variables(tree)
    found: list[tuple[str, ...]] = []
    covered: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in covered:
            continue
        path = _path_of(node)
        if path and path[0] in free:
            for inner in node.find_all((nodes.Getattr, nodes.Getitem)):
                covered.add(id(inner))
            found.append(tuple(path))
    for name in tree.find_all(nodes.Name):
        if name.name in free and not any(p[0] == name.name for p in found):
            found.append((name.name,))
    return list(dict.fromkeys(found))


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"bad template syntax: {exc.message} (template line {exc.lineno})"
    if isinstance(exc, SecurityError):
        return f"template not allowed: {exc}"
    return f"template failed: {exc}"
