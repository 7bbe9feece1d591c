"""The template sandbox reaches no attribute, file, global or environment variable, whatever is written."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.playbooks.templates import TemplateFailed, evaluate_condition, render

PLANTED = "planted-env-secret-7f3a9c"
CTX: dict[str, Any] = {
    "event": {"kind": "token.leak", "entities": {"open_ids": ["o1"]}, "labels": {"k": "v"}},
    "incident": {"id": "inc-1"},
    "inputs": {"n": 3, "text": "hello"},
    "steps": {"a": {"status": "succeeded", "output": {"code": 200}}},
    "run": {"id": "run-1", "dry_run": False},
}
# What a successful escape would put in the output.
LEAKS = (
    "<class",
    "<function",
    "<built-in",
    "<module",
    "<bound",
    "object at 0x",
    "__",
    PLANTED,
    "/etc/passwd",
)

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ event.__class__ }}",
    "{{ event.__init__.__globals__ }}",
    "{{ inputs.text.__class__.__init__ }}",
    "{{ inputs.text.format }}",
    "{{ inputs.text.format_map }}",
    "{{ '{0.__class__}'.format(inputs) }}",
    "{{ event.items.__self__ }}",
    "{{ event.get.__self__.__class__ }}",
    "{{ event['__class__'] }}",
    "{{ event|attr('__class__') }}",
    "{{ self }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum }}",
    "{{ lipsum.__globals__.os.environ }}",
    "{{ cycler }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace }}",
    "{{ namespace.__init__.__globals__.os.environ }}",
    "{{ range(10**9) | list }}",
    "{{ range }}",
    "{{ dict }}",
    "{{ config }}",
    "{{ request }}",
    "{{ os.environ }}",
    "{{ environ }}",
    "{{ env }}",
    "{{ getenv('ORCH_PLANTED') }}",
    "{{ __builtins__ }}",
    "{{ open('/etc/passwd').read() }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os }}",
    "{% extends '/etc/passwd' %}",
    "{% from 'x' import y %}",
    "{{ 'a' * 10**9 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ [1] * 10**9 }}",
    "{% set x = 'a' * 99999 %}{{ x + x }}",
    "{{ event.labels.update({'k': 'owned'}) }}",
    "{{ event.entities.open_ids.append('x') }}",
    "{{ event.labels.pop('k') }}",
    "{{ inputs.text.split.__call__ }}",
    "{{ (inputs.text|string).__class__ }}",
    "{{ event.keys().__class__ }}",
    "{{ [].__class__ }}",
    "{{ ().__class__ }}",
    "{{ 1.__class__ }}",
    "{% macro m() %}{{ caller }}{% endmacro %}{{ m.__globals__ }}",
    "{{ loop }}",
    "{{ varargs }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "{% debug %}",
]


@pytest.fixture(autouse=True)
def planted_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_PLANTED", PLANTED)
    assert os.environ["ORCH_PLANTED"] == PLANTED


def attempt(template: str) -> Any:
    """Render; a refusal (TemplateFailed) is the expected answer to most of these."""
    try:
        with warnings.catch_warnings():
            # Python warns while compiling a literal misuse such as ``None[0]``; running it
            # then fails with a TypeError, which is what the sandbox must turn into TemplateFailed.
            warnings.simplefilter("ignore", SyntaxWarning)
            return render(template, CTX)
    except TemplateFailed as exc:
        assert PLANTED not in str(exc)
        return None


@pytest.mark.parametrize("template", ESCAPES)
def test_no_escape_reaches_anything_outside_the_context(template: str) -> None:
    started = time.monotonic()
    result = attempt(template)
    assert not any(leak in str(result) for leak in LEAKS), result
    assert time.monotonic() - started < 5, "a template must not be able to burn the worker"


def test_templates_cannot_change_the_context() -> None:
    for template in ESCAPES:
        attempt(template)
    assert CTX["event"]["labels"] == {"k": "v"}
    assert CTX["event"]["entities"]["open_ids"] == ["o1"]


def test_the_sandbox_still_renders_what_playbooks_need() -> None:
    assert render("{{ event.entities.open_ids | join(',') }}", CTX) == "o1"
    assert render("{{ steps.a.output.code }}", CTX) == 200
    assert render("{{ inputs.text.upper() }} {{ event.labels.get('k') }}", CTX) == "HELLO v"
    assert evaluate_condition("inputs.n > 2 and not run.dry_run", CTX) is True


ATOMS = st.sampled_from(
    [
        "event",
        "incident",
        "inputs",
        "steps",
        "run",
        "self",
        "lipsum",
        "cycler",
        "joiner",
        "namespace",
        "range",
        "os",
        "environ",
        "config",
        "''",
        "()",
        "[]",
        "{}",
        "1",
        "10**9",
        "inputs.text",
        "event.labels",
        "'__class__'",
        "None",
        "True",
        "loop",
        "caller",
    ]
)
SUFFIXES = st.sampled_from(
    [
        ".__class__",
        ".__mro__",
        ".__subclasses__()",
        ".__globals__",
        ".__init__",
        ".__dict__",
        ".__self__",
        ".__func__",
        ".__code__",
        ".__builtins__",
        ".environ",
        ".get('x')",
        ".items()",
        ".format('x')",
        "['__class__']",
        "[0]",
        "[-1]",
        "[1:]",
        "|attr('__class__')",
        "|list",
        "|string",
        "|join",
        "|tojson",
        "|length",
        "(1)",
        "()",
        " * 10**9",
        " ** 99",
        " + 'x'",
    ]
)
expressions = st.builds(lambda a, s: a + "".join(s), ATOMS, st.lists(SUFFIXES, max_size=4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, st.sampled_from(["{{ %s }}", "{%% set x = %s %%}{{ x }}", "{%% if %s %%}y{%% endif %%}"]))
def test_random_expressions_fail_cleanly_or_render_plain_values(expression: str, shape: str) -> None:
    result = attempt(shape % expression)
    assert not any(leak in str(result) for leak in LEAKS if leak != "__"), (expression, result)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_random_text_renders_or_fails_with_template_failed(text: str) -> None:
    result = attempt("{{ " + text + " }}")
    assert not any(leak in str(result) for leak in LEAKS if leak != "__"), (text, result)
