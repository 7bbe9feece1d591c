"""Templates: native values, conditions, nested params, load-time paths, and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2.exceptions import TemplateSyntaxError

from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.playbooks.templates import (
    TemplateFailed,
    build_context,
    check_template,
    evaluate_condition,
    render,
    render_params,
)

CTX: dict[str, Any] = {
    "event": {"kind": "token.leak", "severity": "high", "entities": {"open_ids": ["o1", "o2"]}},
    "incident": {"id": "inc-1"},
    "inputs": {"count": 3, "loud": False},
    "steps": {"fetch": {"status": "succeeded", "output": {"code": 200}}},
    "run": {"id": "run-1", "dry_run": False},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.entities.open_ids }}", ["o1", "o2"]),
        ("{{ inputs.count }}", 3),
        ("  {{ inputs.loud }} ", False),
        ("{{ steps.fetch.output }}", {"code": 200}),
        ("{{ event['kind'] }}", "token.leak"),
        ("id={{ incident.id }}", "id=inc-1"),
        ("{{ inputs.count }} {{ inputs.count }}", "3 3"),
        ("{{ event.entities.open_ids | join(',') }}", "o1,o2"),
        ("{{ event.entities.open_ids | tojson }}", '["o1", "o2"]'),
        ("{{ inputs.missing | default('none') }}", "none"),
        ("{{ event.kind.upper() }}", "TOKEN.LEAK"),
        ("{% for o in event.entities.open_ids %}<{{ o }}>{% endfor %}", "<o1><o2>"),
        ("plain text", "plain text"),
    ],
)
def test_render_returns_native_value_for_one_expression_else_text(template: str, expected: Any) -> None:
    assert render(template, CTX) == expected


def test_render_returns_a_copy_not_the_context_object() -> None:
    value = render("{{ event.entities.open_ids }}", CTX)
    value.append("x")
    assert CTX["event"]["entities"]["open_ids"] == ["o1", "o2"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("event.severity == 'high'", True),
        ("{{ event.severity == 'critical' }}", False),
        ("inputs.count > 2", True),
        ("inputs.loud", False),
        ("'false'", False),
        ("'no'", False),
        ("'yes'", True),
        ("event.entities.open_ids", True),
        ("'o3' in event.entities.open_ids", False),
    ],
)
def test_condition_truth(expression: str, expected: bool) -> None:
    assert evaluate_condition(expression, CTX) is expected


def test_render_params_walks_nested_values_and_names_the_param_on_error() -> None:
    params = {"a": {"b": ["{{ inputs.count }}", "x"]}, "c": 1, "d": "{{ run.id }}"}
    assert render_params(params, CTX) == {"a": {"b": [3, "x"]}, "c": 1, "d": "run-1"}
    with pytest.raises(TemplateFailed) as caught:
        render_params({"a": {"b": ["{{ steps.nope.output }}"]}}, CTX, step_id="s1")
    assert str(caught.value) == (
        "step 's1' param 'a.b[0]': template failed: 'dict object' has no attribute 'nope'"
    )
    assert caught.value.retryable is False


def test_check_template_lists_paths_read_from_the_context() -> None:
    paths = check_template(
        "{{ steps.a.output.x | default(inputs.b) }}"
        "{% for h in event.entities.hosts %}{{ h.name }}{% endfor %}{% set y = 1 %}{{ y }}"
    )
    assert paths == [("steps", "a", "output", "x"), ("inputs", "b"), ("event", "entities", "hosts")]


def test_check_template_raises_on_bad_syntax() -> None:
    with pytest.raises(TemplateSyntaxError):
        check_template("{{ a ")


SANDBOX = [
    ("dunder on dict", "{{ event.__class__ }}"),
    ("dunder chain", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
    ("method of list", "{{ event.entities.open_ids.append('x') }}"),
    ("dunder call", "{{ event.entities.open_ids.__len__() }}"),
    ("huge range", "{{ range(10**9) | list }}"),
    ("huge repeat", "{{ 'a' * 1000000000 }}"),
    ("huge exponent", "{{ 10 ** 100000 }}"),
    ("huge power chain", "{{ ((10 ** 60) ** 60) ** 60 }}"),
    ("no globals", "{{ lipsum() }}"),
    ("no environment", "{{ environ }}"),
    ("no config", "{{ config.items() }}"),
    ("no cycler", "{{ cycler.__init__.__globals__ }}"),
    ("no os", "{{ os.environ }}"),
    ("no imports", "{% import 'os' as os %}{{ os }}"),
    ("no include", "{% include '/etc/passwd' %}"),
    ("no attribute filter", "{{ event | attr('__class__') }}"),
    ("format string", "{{ '{0.__class__}'.format(event) }}"),
    ("undefined variable", "{{ nothing }}"),
]


@pytest.mark.parametrize(("case", "template"), SANDBOX, ids=[c[0] for c in SANDBOX])
def test_sandbox_refuses(case: str, template: str) -> None:
    with pytest.raises(TemplateFailed):
        render(template, CTX)


def test_objects_in_the_context_expose_no_attributes() -> None:
    class Secretive:
        token = "act.secret-value"

    with pytest.raises(TemplateFailed):
        render("{{ thing.token }}", {"thing": Secretive()})


def test_build_context_turns_models_into_plain_dicts() -> None:
    event = CompromiseEvent(
        id="e1",
        source="splunk",
        kind="token.leak",
        severity=Severity.HIGH,
        title="t",
        observed_at="2026-11-26T16:00:00Z",
        received_at="2026-11-26T16:00:01Z",
        dedup_key="k",
    )
    ctx = build_context(event=event, inputs={"n": 1}, run={"id": "r", "dry_run": True})
    assert render("{{ event.severity }} {{ event.entities.open_ids }} {{ run.dry_run }}", ctx) == (
        "high [] True"
    )
    assert (ctx["incident"], ctx["steps"], ctx["inputs"]) == ({}, {}, {"n": 1})
