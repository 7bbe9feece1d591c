"""Property tests: no body, however hostile, makes a parser raise anything but
ValidationFailed (MalformedInput included); every event it returns is storable."""

from __future__ import annotations

import contextlib
import importlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.intake.sources import FieldMapping, parse_body, source_names

from .support import SAMPLES, context

SOURCES = source_names()
SAMPLE_FILES = {
    "alertmanager": "alertmanager_grouped.json",
    "grafana": "grafana_grouped.json",
    "splunk": "splunk.json",
    "datadog": "datadog.json",
    "sentinel": "sentinel.json",
    "pagerduty": "pagerduty_triggered.json",
    "falco": "falco.json",
    "guardduty": "guardduty.json",
    "ocsf": "ocsf.json",
    "elastic": "elastic.json",
}
GENERIC = {"title": "t", "kind": "k", "severity": "low", "entities": {"hosts": ["h"]}, "labels": {"a": "b"}}
MAPPING = FieldMapping.from_config(
    {
        "title": "a.b",
        "severity": "c",
        "dedup_key": ["d", "e.f"],
        "entities": {"hosts": ["h.0"]},
        "labels": {"x": "y"},
    }
)
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "\u202e",
            "\ud800",
            "0001-01-01T00:00:00Z",
            "1e400",
            "NaN",
            "-1",
            "99999999999999999999999",
            "$ALERT_CYCLE_KEY",
            "resolved",
            "Closed",
            "P1",
            "2004",
            "incident.resolved",
            "9.5",
            "true",
            "x" * 5000,
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=20,
)


def storable(events: list[CompromiseEvent]) -> None:
    for event in events:
        text = event.model_dump_json()
        text.encode("utf-8")  # no lone surrogates
        assert "\x00" not in event.title and "\\u0000" not in text
        assert len(json.dumps(event.raw).encode()) <= normalise.RAW_LIMIT_BYTES


@FAST
@given(source=st.sampled_from(SOURCES), raw=st.binary(max_size=200))
def test_random_bytes_only_ever_raise_validation_failed(source: str, raw: bytes) -> None:
    with contextlib.suppress(ValidationFailed):
        storable(parse_body(source, raw, context(source)))


@FAST
@given(source=st.sampled_from(SOURCES), body=json_values, mapped=st.booleans())
def test_random_json_reaches_each_parser_and_only_raises_validation_failed(
    source: str, body: Any, mapped: bool
) -> None:
    parser = importlib.import_module(f"orchestrator.intake.sources.{source}").parse
    with contextlib.suppress(ValidationFailed):
        storable(parser(body, context(source, mapping=MAPPING if mapped else None)))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


SAMPLES_BY_SOURCE = {
    source: json.loads((SAMPLES / name).read_text()) for source, name in SAMPLE_FILES.items()
} | {"generic": GENERIC}


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), source=st.sampled_from(SOURCES), new=json_values)
def test_samples_with_one_field_replaced_by_anything_only_raise_validation_failed(
    data: st.DataObject, source: str, new: Any
) -> None:
    sample = SAMPLES_BY_SOURCE[source]
    path = data.draw(st.sampled_from(_paths(sample)))
    body = _replace(sample, path, new)
    parser = importlib.import_module(f"orchestrator.intake.sources.{source}").parse
    with contextlib.suppress(ValidationFailed):
        storable(parser(body, context(source)))
    raw = json.dumps(body).encode()
    with contextlib.suppress(ValidationFailed):
        parse_body(source, raw, context(source))


CONFUSING: list[Any] = [
    None,
    0,
    -1,
    2**64,
    1.5,
    True,
    "",
    "x",
    "\x00\u202e\ud800",
    [],
    {},
    ["x"],
    {"a": "b"},
    [{}],
]


@pytest.mark.parametrize("source", SOURCES)
def test_every_field_of_each_sample_replaced_by_each_other_type_only_raises_validation_failed(
    source: str,
) -> None:
    sample = SAMPLES_BY_SOURCE[source]
    parser = importlib.import_module(f"orchestrator.intake.sources.{source}").parse
    for path in _paths(sample):
        for new in CONFUSING:
            with contextlib.suppress(ValidationFailed):
                storable(parser(_replace(sample, path, new), context(source)))
