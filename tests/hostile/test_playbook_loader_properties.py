"""Whatever text or document it is given, the playbook loader answers a playbook or a PlaybookError."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.actions.registry import default_registry
from orchestrator.errors import PlaybookError
from orchestrator.playbooks import Playbook, parse_playbook

REGISTRY = default_registry()
VALID = Path(__file__).resolve().parents[1] / "playbooks" / "valid" / "token_leak.yaml"
_WHERE = re.compile(r"^pb\.yaml:\d+:\d+: ")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["note", "http.post", "manual", "{{ event.kind }}", "{{ ''.__class__ }}", "5s", "-1"]),
)
keys = st.one_of(
    st.sampled_from(
        [
            "name",
            "trigger",
            "match",
            "manual",
            "inputs",
            "steps",
            "id",
            "action",
            "with",
            "when",
            "retry",
            "timeout",
            "approval",
            "parallel",
            "on_failure",
            "kinds",
            "min_severity",
            "version",
            "type",
        ]
    ),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=40,
)


def load(text: str) -> Playbook | None:
    """Parse; a PlaybookError is a fine answer as long as it says file:line:column."""
    try:
        return parse_playbook(text, "pb.yaml", registry=REGISTRY)
    except PlaybookError as exc:
        assert _WHERE.match(str(exc)), str(exc)
        return None


@FAST
@given(st.text(max_size=400))
def test_any_text_gives_a_playbook_or_a_playbook_error(text: str) -> None:
    load(text)


@FAST
@given(documents)
def test_any_yaml_document_gives_a_playbook_or_a_playbook_error(document: Any) -> None:
    load(yaml.safe_dump(document, allow_unicode=True))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


BASE: dict[str, Any] = yaml.safe_load(VALID.read_text(encoding="utf-8"))
BASE_PATHS = [p for p in _paths(BASE) if p]


@FAST
@given(st.sampled_from(BASE_PATHS), documents)
def test_a_valid_playbook_with_one_part_replaced_never_crashes(path: tuple[Any, ...], junk: Any) -> None:
    document = copy.deepcopy(BASE)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = junk
    load(yaml.safe_dump(document, allow_unicode=True))


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['echo pwned']",
        "name: !!python/name:os.environ x\n",
        "a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
        "[" * 5000 + "]" * 5000,
        "name: x\nname: y\n",
        "? [a, b]\n: c\n",
        "\x00\x01\x02",
        "name: t\ntrigger: {manual: {}}\n"
        "steps: [{id: a, action: note, with: {message: '{{ ''.__class__ }}'}}]\n",
        "name: t\ntrigger: {manual: {}}\nsteps: [{id: a, action: note, when: '{% for %}'}]\n",
        "\ufeffname: 😀\n",
    ],
    ids=[
        "python-tag",
        "python-name",
        "alias-bomb",
        "deep",
        "duplicate-key",
        "complex-key",
        "control",
        "class-template",
        "broken-when",
        "bom-emoji",
    ],
)
def test_hostile_yaml_gives_a_playbook_error(text: str) -> None:
    assert load(text) is None
