"""The generic source: the project's own schema, strict without a mapping, mapped with one."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import ConfigError, MalformedInput, NotFound, ValidationFailed
from orchestrator.events.schemas import Severity
from orchestrator.intake.sources import FieldMapping, parse_body, source_names

from .support import RECEIVED, context, parse, summary

FULL = {
    "title": "Token exfiltration on web-1",
    "kind": "credential.leak",
    "severity": "critical",
    "dedup_key": "leak-2026-11-26",
    "observed_at": "2026-11-26T15:59:00.123456789+01:00",
    "entities": {"hosts": ["web-1", "web-1"], "ips": ["10.0.0.5"], "open_ids": ["_000abc"]},
    "labels": {"team": "payments", "count": 3},
    "source_ref": "https://siem.example/alerts/1?token=supersecretvalue",
    "status": "resolved",
    "extra": {"ignored": True},
}


def test_full_body_normalises_to_one_whole_event() -> None:
    [event] = parse("generic", FULL)
    assert summary(event) == {
        "source": "generic",
        "kind": "credential.leak",
        "severity": "critical",
        "title": "Token exfiltration on web-1",
        "observed_at": "2026-11-26T14:59:00.123456Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": "leak-2026-11-26",
        "status": "resolved",
        "entities": {
            "hosts": ["web-1"],
            "ips": ["10.0.0.5"],
            "users": [],
            "open_ids": ["_000abc"],
            "client_keys": [],
        },
        "labels": {"team": "payments", "count": "3"},
        "source_ref": "https://siem.example/alerts/1?token=[REDACTED]",
    }
    assert isinstance(event.raw, dict) and event.raw["extra"] == {"ignored": True}


def test_minimal_body_takes_defaults_and_a_stable_dedup_key() -> None:
    body = {"title": "Odd login", "kind": "token.anomaly", "severity": "HIGH"}
    [first] = parse("generic", body)
    [again] = parse("generic", {**body, "labels": {"x": "y"}})
    assert first.observed_at == RECEIVED
    assert first.status == "firing"
    assert first.severity is Severity.HIGH
    assert first.dedup_key == again.dedup_key
    assert first.dedup_key.startswith("generic:")


def test_default_dedup_key_ignores_entity_order_but_not_entities() -> None:
    base = {"title": "t", "kind": "host.compromise", "severity": "low"}
    [a] = parse("generic", {**base, "entities": {"hosts": ["a", "b"]}})
    [b] = parse("generic", {**base, "entities": {"hosts": ["b", "a"]}})
    [c] = parse("generic", {**base, "entities": {"hosts": ["c"]}})
    assert a.dedup_key == b.dedup_key != c.dedup_key


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "k", "severity": "low"}, "title"),
        ({"title": "  \u202e ", "kind": "k", "severity": "low"}, "title"),
        ({"title": {"a": 1}, "kind": "k", "severity": "low"}, "title"),
        ({"title": "t", "severity": "low"}, "kind"),
        ({"title": "t", "kind": "k"}, "severity"),
        ({"title": "t", "kind": "k", "severity": "urgent"}, "severity"),
        ({"title": "t", "kind": "k", "severity": "low", "status": "open"}, "status"),
        ({"title": "t", "kind": "k", "severity": "low", "observed_at": "yesterday"}, "observed_at"),
        ({"title": "t", "kind": "k", "severity": "low", "entities": ["h"]}, "entities"),
        (
            {"title": "t", "kind": "k", "severity": "low", "entities": {"ips": [{}]}},
            "entities.ips[0]",
        ),
        ({"title": "t", "kind": "k", "severity": "low", "labels": {"a": [1]}}, "labels.a"),
        (["not", "an", "object"], "body"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("generic", body)
    assert not isinstance(caught.value, MalformedInput)
    assert caught.value.field == field
    assert field.split(".")[0].split("[")[0] in str(caught.value)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe{}", b'{"a": NaN}', b"[" * 100_000])
def test_bytes_that_are_not_json_are_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        parse_body("generic", raw, context("generic"))


def test_unknown_source_is_not_found() -> None:
    with pytest.raises(NotFound):
        parse_body("nagios", b"{}", context("nagios"))
    assert "generic" in source_names()


def test_title_is_cleaned_of_controls_bidi_and_nul_and_capped() -> None:
    body = {"title": "a\x00b\u202ec\n\td" + "x" * 1000, "kind": "k", "severity": "low"}
    [event] = parse("generic", body)
    assert event.title.startswith("abc d")
    assert len(event.title) == 300


def test_observed_at_accepts_epoch_milliseconds_as_string() -> None:
    body = {"title": "t", "kind": "k", "severity": "low", "observed_at": "1764172800000"}
    [event] = parse("generic", body)
    assert event.observed_at.isoformat() == "2025-11-26T16:00:00+00:00"


def test_raw_body_is_redacted() -> None:
    body = {
        "title": "t",
        "kind": "k",
        "severity": "low",
        "cmd": "curl -H 'Authorization: Bearer abcdefghijklmnop'",
    }
    [event] = parse("generic", body)
    assert event.raw is not None
    assert "abcdefghijklmnop" not in str(event.raw)


MAPPING = FieldMapping.from_config(
    {
        "title": "alert.name",
        "kind": "alert.category",
        "severity": "alert.level",
        "severity_map": {"sev1": "critical", "sev3": "low"},
        "dedup_key": ["alert.id"],
        "observed_at": "alert.ts",
        "status": "alert.state",
        "source_ref": "alert.url",
        "entities": {"hosts": ["asset.hostname"], "ips": ["net.src", "net.dst"]},
        "labels": {"team": "owner.team"},
    }
)


def test_mapping_reads_a_teams_own_field_names() -> None:
    body = {
        "alert": {
            "name": "Beacon",
            "category": "host.compromise",
            "level": "SEV1",
            "id": 42,
            "ts": 1764172800,
            "state": "closed",
            "url": "https://x.example/42",
        },
        "asset": {"hostname": "db-2"},
        "net": {"src": "10.1.1.1", "dst": ["10.2.2.2"]},
        "owner": {"team": "core"},
    }
    [event] = parse("generic", body, mapping=MAPPING)
    assert summary(event) == {
        "source": "generic",
        "kind": "host.compromise",
        "severity": "critical",
        "title": "Beacon",
        "observed_at": "2025-11-26T16:00:00Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": "generic:42",
        "status": "resolved",
        "entities": {
            "hosts": ["db-2"],
            "ips": ["10.1.1.1", "10.2.2.2"],
            "users": [],
            "open_ids": [],
            "client_keys": [],
        },
        "labels": {"team": "core"},
        "source_ref": "https://x.example/42",
    }


def test_mapping_falls_back_to_defaults_for_missing_kind_and_unknown_severity() -> None:
    body = {"alert": {"name": "Beacon", "level": "weird"}}
    [event] = parse("generic", body, mapping=MAPPING, default=Severity.HIGH)
    assert (event.kind, event.severity, event.status) == ("security.alert", Severity.HIGH, "firing")


def test_mapping_still_requires_a_title_and_names_the_mapped_path() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("generic", {"alert": {}}, mapping=MAPPING)
    assert caught.value.field == "alert.name"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"titel": "a"}, "mapping.titel"),
        ({"title": 5}, "mapping.title"),
        ({"severity_map": {"sev1": "urgent"}}, "mapping.severity_map.sev1"),
        ({"entities": {"hostz": ["a"]}}, "mapping.entities.hostz"),
        ({"entities": {"hosts": [1]}}, "mapping.entities.hosts"),
        ({"labels": ["x"]}, "mapping.labels"),
    ],
)
def test_a_bad_mapping_config_names_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FieldMapping.from_config(config)
    assert str(caught.value).startswith(key)
