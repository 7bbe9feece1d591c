"""The normalisation pipeline's small functions, each alone (orchestrator/events/normalise.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import Severity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T15:50:00Z", "2026-11-26T15:50:00+00:00"),
        ("2026-11-26T15:50:00.123456789Z", "2026-11-26T15:50:00.123456+00:00"),
        ("2026-11-26T17:50:00+02:00", "2026-11-26T15:50:00+00:00"),
        ("2026-11-26 15:50:00", "2026-11-26T15:50:00+00:00"),
        ("2026-11-26t15:50:00z", "2026-11-26T15:50:00+00:00"),
        (1795708800, "2026-11-26T16:00:00+00:00"),
        (1795708800.5, "2026-11-26T16:00:00.500000+00:00"),
        ("1795708800", "2026-11-26T16:00:00+00:00"),
        ("1795708800.250", "2026-11-26T16:00:00.250000+00:00"),
        (1795708800123, "2026-11-26T16:00:00.123000+00:00"),
        ("1795708800123", "2026-11-26T16:00:00.123000+00:00"),
        (1795708800123456, "2026-11-26T16:00:00.123456+00:00"),
        (1795708800123456789, "2026-11-26T16:00:00.123457+00:00"),
        ("1795708800123456789", "2026-11-26T16:00:00.123457+00:00"),
        (0, "1970-01-01T00:00:00+00:00"),
    ],
)
def test_parse_time_reads_rfc3339_and_epoch_of_any_unit(value: Any, expected: str) -> None:
    parsed = normalise.parse_time(value, field="t")
    assert parsed is not None and parsed.isoformat() == expected


def test_parse_time_keeps_integers_above_2_53_exact_where_a_float_would_round() -> None:
    nanos = 1_795_708_800_000_000_400  # as a float this is ...512 ns, which rounds up a microsecond
    assert int(float(nanos)) % 1000 == 512
    assert normalise.parse_time(nanos, field="t") == datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", normalise.MISSING])
def test_parse_time_gives_none_for_absent(value: Any) -> None:
    assert normalise.parse_time(value, field="t") is None


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-40T00:00:00Z", True, {"a": 1}, [1], 10**25, "1e400", "nan"]
)
def test_parse_time_names_the_field_for_anything_else(value: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise.parse_time(value, field="observed_at")
    assert caught.value.field == "observed_at"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain title", "plain title"),
        ("  a\n\tb  ", "a b"),
        ("nul\x00byte", "nulbyte"),
        ("bidi \u202eevil\u202c ok", "bidi evil ok"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("bell\x07 esc\x1b[31m", "bell esc[31m"),
        ("c1\x85\x9b", "c1"),
        ("lone \ud800 surrogate", "lone surrogate"),
    ],
)
def test_clean_text_removes_controls_bidi_and_nul(value: str, expected: str) -> None:
    assert normalise.clean_text(value) == expected


def test_clean_text_caps_length_with_an_ellipsis() -> None:
    cleaned = normalise.clean_text("x" * 1000, limit=10)
    assert (cleaned, len(cleaned)) == ("xxxxxxxxx…", 10)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("High", Severity.HIGH),
        (" critical ", Severity.CRITICAL),
        (3, Severity.MEDIUM),
        (3.0, Severity.MEDIUM),
        ("unknown", Severity.LOW),
        (None, Severity.LOW),
        (True, Severity.LOW),
        ({"a": 1}, Severity.LOW),
    ],
)
def test_map_severity_uses_the_table_and_falls_to_the_default(value: Any, expected: Severity) -> None:
    table = {"high": Severity.HIGH, "critical": Severity.CRITICAL, "3": Severity.MEDIUM}
    assert normalise.map_severity(value, table, Severity.LOW) is expected


def test_stable_key_is_deterministic_hex_and_sensitive_to_order_of_parts_only() -> None:
    assert normalise.stable_key("a", {"y": 1, "x": 2}) == normalise.stable_key("a", {"x": 2, "y": 1})
    assert normalise.stable_key("a", "b") != normalise.stable_key("b", "a")
    assert len(normalise.stable_key("\ud800")) == 64


def test_identity_key_prefixes_the_source_and_hashes_long_or_composite_ids() -> None:
    assert normalise.identity_key("alertmanager", "1a30ba71") == "alertmanager:1a30ba71"
    assert normalise.identity_key("splunk", "app", "search") == "splunk:" + normalise.stable_key(
        "app", "search"
    )
    long_key = normalise.identity_key("x", "k" * 500)
    assert long_key.startswith("x:") and len(long_key) == 66


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("kibana.alert.uuid", "dotted"),
        ("kibana.alert.rule.name", "nested-in-dotted"),
        ("host.name", "h1"),
        ("host.ip.1", "10.0.0.2"),
        ("host.missing", normalise.MISSING),
        ("", normalise.MISSING),
        ("nothing", normalise.MISSING),
        ("host.ip.9", normalise.MISSING),
    ],
)
def test_get_path_follows_dotted_keys_nested_objects_and_lists(path: str, expected: Any) -> None:
    doc = {
        "kibana.alert.uuid": "dotted",
        "kibana.alert": {"rule": {"name": "nested-in-dotted"}},
        "host": {"name": "h1", "ip": ["10.0.0.1", "10.0.0.2"]},
    }
    assert normalise.get_path(doc, path) == expected


def test_bound_raw_redacts_and_truncates_big_strings_and_lists() -> None:
    body = {
        "token": "abc",
        "cmd": "Bearer abcdefghijklmnop",
        "big": "x" * 100_000,
        "many": list(range(1000)),
        "nul": "a\x00b",
    }
    bounded = normalise.bound_raw(body)
    assert isinstance(bounded, dict)
    assert bounded["token"] == "[REDACTED]"
    assert bounded["cmd"] == "Bearer [REDACTED]"
    assert bounded["big"].endswith(normalise.TRUNCATED)
    assert bounded["many"][-1].startswith(normalise.TRUNCATED)
    assert bounded["nul"] == "ab"
    assert len(json.dumps(bounded).encode()) <= normalise.RAW_LIMIT_BYTES


def test_bound_raw_stays_under_the_limit_for_wide_bodies_and_wraps_scalars() -> None:
    wide = {f"k{i}": ["y" * 500] * 90 for i in range(90)}
    bounded = normalise.bound_raw(wide, limit=16_384)
    assert len(json.dumps(bounded).encode()) <= 16_384
    assert normalise.bound_raw("text") == {"value": "text"}
    deep: Any = {}
    for _ in range(100):
        deep = {"d": deep}
    assert "…[truncated]" in json.dumps(normalise.bound_raw(deep), ensure_ascii=False)


@pytest.mark.parametrize(
    ("value", "expected"), [(5, "5"), (2.5, "2.5"), (3.0, "3"), (True, "true"), (None, None)]
)
def test_as_text_reads_loose_scalars(value: Any, expected: str | None) -> None:
    assert normalise.as_text(value, field="f") == expected


def test_text_list_takes_a_single_string_and_drops_duplicates() -> None:
    assert normalise.text_list("a", field="f") == ["a"]
    assert normalise.text_list(["a", "a", 1, ""], field="f") == ["a", "1"]
    with pytest.raises(ValidationFailed) as caught:
        normalise.text_list(["a", {"b": 1}], field="hosts")
    assert caught.value.field == "hosts[1]"
