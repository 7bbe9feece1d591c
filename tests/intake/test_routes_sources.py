"""POST /v1/events/{source} over real HTTP: each tool's authentication, limits and answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.events.models import EventRow
from orchestrator.worker.runtime import Runtime
from tests.support import services
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app

SAMPLES = Path(__file__).parent / "sources" / "samples"
SECRET = "route-secret-0123456789abcdef"
QUERY_SECRET = "splunkquerysecret0123456789"
BEARER = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
JSON = {"Content-Type": "application/json"}
FAILED = {"error": "authentication failed"}

SOURCES: dict[str, Any] = {
    "splunk": {"auth": {"kind": "query_token", "secret": QUERY_SECRET}},
    "grafana": {"auth": {"kind": "hmac_timestamped", "secret": SECRET}},
    "pagerduty": {"auth": {"kind": "hmac_body", "secret": SECRET}, "rate_limit_per_minute": 3},
    "datadog": {"auth": {"kind": "basic", "username": "datadog", "secret": SECRET}},
    "sentinel": {"auth": {"kind": "bearer", "secret": SECRET}},
    "falco": {"default_severity": "high", "max_body_bytes": 2048},
}

Post = Callable[..., httpx.Response]


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@contextmanager
def running(tmp_path: Path, **overrides: Any) -> Iterator[tuple[Runtime, httpx.Client]]:
    settings = load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "sources": SOURCES,
            **overrides,
        }
    )
    runtime = make_runtime(settings)
    try:
        with serve_app(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield runtime, client
    finally:
        runtime.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Runtime, httpx.Client]]:
    with running(tmp_path) as pair:
        yield pair


def stored(runtime: Runtime) -> int:
    with runtime.store.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(EventRow)) or 0)


def grafana_headers(body: bytes, *, stamp: int | None = None) -> dict[str, str]:
    when = str(int(time.time()) if stamp is None else stamp)
    digest = hmac.new(SECRET.encode(), f"{when}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        **JSON,
        "X-Grafana-Alerting-Signature": digest,
        "X-Grafana-Alerting-Signature-Timestamp": when,
    }


def pagerduty_headers(body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {**JSON, "X-PagerDuty-Signature": f"v1=deadbeef,v1={digest}", "X-Webhook-Id": delivery}


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {**JSON, "Authorization": f"Basic {encoded}"}


def test_every_source_with_the_global_token_or_its_own_secret_is_accepted(
    live: tuple[Runtime, httpx.Client],
) -> None:
    runtime, client = live
    grafana, pagerduty = sample("grafana_grouped.json"), sample("pagerduty_triggered.json")
    answers = {
        "alertmanager": client.post(
            "/v1/events/alertmanager", content=sample("alertmanager_grouped.json"), headers=BEARER | JSON
        ),
        "splunk": client.post(
            f"/v1/events/splunk?token={QUERY_SECRET}", content=sample("splunk.json"), headers=JSON
        ),
        "grafana": client.post("/v1/events/grafana", content=grafana, headers=grafana_headers(grafana)),
        "pagerduty": client.post(
            "/v1/events/pagerduty", content=pagerduty, headers=pagerduty_headers(pagerduty, "d-1")
        ),
        "datadog": client.post(
            "/v1/events/datadog", content=sample("datadog.json"), headers=basic("datadog", SECRET)
        ),
        "sentinel": client.post(
            "/v1/events/sentinel",
            content=sample("sentinel.json"),
            headers={**JSON, "Authorization": f"Bearer {SECRET}"},
        ),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == dict.fromkeys(answers, 202)
    accepted = sum(answer.json()["accepted"] for answer in answers.values())
    assert accepted == stored(runtime) and accepted >= len(answers)


@pytest.mark.parametrize(
    ("source", "make_request"),
    [
        ("splunk", lambda b: ("?token=wrong", JSON)),
        ("splunk", lambda b: ("", BEARER | JSON)),  # the global token does not replace its own
        ("grafana", lambda b: ("", grafana_headers(b + b" "))),  # signed another body
        ("grafana", lambda b: ("", grafana_headers(b, stamp=int(time.time()) - 3600))),  # stale
        ("grafana", lambda b: ("", JSON)),  # missing
        ("pagerduty", lambda b: ("", pagerduty_headers(b, "d-2", secret="other-secret"))),
        ("pagerduty", lambda b: ("", {**pagerduty_headers(b, "d-3"), "X-Webhook-Id": ""})),
        ("datadog", lambda b: ("", basic("datadog", "wrong"))),
        ("datadog", lambda b: ("", basic("root", SECRET))),
        ("sentinel", lambda b: ("", BEARER | JSON)),
    ],
    ids=[
        "splunk-wrong",
        "splunk-global",
        "grafana-other-body",
        "grafana-stale",
        "grafana-missing",
        "pagerduty-wrong",
        "pagerduty-no-id",
        "datadog-password",
        "datadog-user",
        "sentinel-global",
    ],
)
def test_a_wrong_missing_or_stale_secret_gets_401_without_saying_why(
    live: tuple[Runtime, httpx.Client], source: str, make_request: Callable[[bytes], tuple[str, Any]]
) -> None:
    runtime, client = live
    body = json.dumps({"x": 1}).encode()
    query, headers = make_request(body)
    answer = client.post(f"/v1/events/{source}{query}", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (401, FAILED)
    assert stored(runtime) == 0


def test_a_replayed_delivery_is_refused_even_by_another_process(tmp_path: Path) -> None:
    body = sample("pagerduty_triggered.json")
    headers = pagerduty_headers(body, "delivery-replayed")
    with running(tmp_path) as (_, first):
        assert first.post("/v1/events/pagerduty", content=body, headers=headers).status_code == 202
    with running(tmp_path) as (runtime, second):  # a restart, or a second API process
        answer = second.post("/v1/events/pagerduty", content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (401, FAILED)
        assert stored(runtime) == 1


def test_a_grafana_signature_is_accepted_once(live: tuple[Runtime, httpx.Client]) -> None:
    _, client = live
    body = sample("grafana_grouped.json")
    headers = grafana_headers(body)
    codes = [client.post("/v1/events/grafana", content=body, headers=headers).status_code for _ in range(2)]
    assert codes == [202, 401]


def test_a_delivery_refused_with_503_is_let_in_on_retry(live: tuple[Runtime, httpx.Client]) -> None:
    runtime, client = live
    body = sample("pagerduty_triggered.json")
    headers = pagerduty_headers(body, "delivery-during-outage")
    with runtime.store.engine.begin() as conn:  # the events table is gone: the store refuses
        conn.execute(text("ALTER TABLE events RENAME TO events_away"))
    assert client.post("/v1/events/pagerduty", content=body, headers=headers).status_code == 503
    with runtime.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events_away RENAME TO events"))
    assert client.post("/v1/events/pagerduty", content=body, headers=headers).status_code == 202
    assert stored(runtime) == 1


def test_the_query_secret_never_reaches_a_log_line_or_a_stored_link(
    live: tuple[Runtime, httpx.Client], log_stream: io.StringIO
) -> None:
    runtime, client = live
    body = json.loads(sample("splunk.json"))
    body["results_link"] = f"https://splunk.example/app?sid=1&token={QUERY_SECRET}"
    for query in (f"?token={QUERY_SECRET}", f"?token={QUERY_SECRET}x", f"?a=1&token={QUERY_SECRET}"):
        client.post(f"/v1/events/splunk{query}", json=body)
    client.post("/v1/events/splunk?token=", content=b"{", headers=JSON)
    with runtime.store.unit_of_work() as session:
        refs = session.scalars(select(EventRow.source_ref)).all()
        rows = [row.to_event().model_dump_json() for row in session.scalars(select(EventRow))]
    assert len(refs) == 2 and all(ref and "sid=1" in ref for ref in refs)
    assert QUERY_SECRET not in "".join(rows) + "".join(str(ref) for ref in refs)
    assert "events accepted" in log_stream.getvalue()
    assert QUERY_SECRET not in log_stream.getvalue()


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "expected"),
    [
        ("/v1/events/nosuch", b"{}", BEARER | JSON, 404, {"error": "unknown event source 'nosuch'"}),
        ("/v1/events/falco", b"{}", BEARER | {"Content-Type": "text/plain"}, 415, None),
        ("/v1/events/falco", b'{"output": "' + b"x" * 4096 + b'"}', BEARER | JSON, 413, None),
        ("/v1/events/falco", b'{"rule": ', BEARER | JSON, 400, None),
        ("/v1/events/falco", b"[]", BEARER | JSON, 422, None),
        ("/v1/events/alertmanager", b'{"alerts": 5}', BEARER | JSON, 422, None),
    ],
    ids=["unknown-source", "content-type", "per-source-limit", "not-json", "wrong-shape", "field"],
)
def test_bad_input_gets_a_clear_4xx(
    live: tuple[Runtime, httpx.Client],
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    expected: dict[str, Any] | None,
) -> None:
    runtime, client = live
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == status
    if expected is not None:
        assert answer.json() == expected
    if status == 422:
        assert answer.json()["field"]
    assert stored(runtime) == 0


def test_grouped_sources_accept_bodies_over_the_global_limit(live: tuple[Runtime, httpx.Client]) -> None:
    runtime, client = live
    group = json.loads(sample("alertmanager_grouped.json"))
    template = group["alerts"][0]
    group["alerts"] = [
        {**template, "fingerprint": f"fp{i:05d}", "labels": {**template["labels"], "n": str(i)}}
        for i in range(2000)
    ]
    body = json.dumps(group).encode()
    assert len(body) > 1024 * 1024
    answer = client.post("/v1/events/alertmanager", content=body, headers=BEARER | JSON)
    assert (answer.status_code, answer.json()["accepted"]) == (202, 2000)
    assert stored(runtime) == 2000


def test_a_ping_with_no_alert_is_accepted_with_nothing_stored(live: tuple[Runtime, httpx.Client]) -> None:
    runtime, client = live
    body = json.dumps({"event": {"id": "p1", "event_type": "pagey.ping", "data": {}}}).encode()
    answer = client.post("/v1/events/pagerduty", content=body, headers=pagerduty_headers(body, "ping-1"))
    assert (answer.status_code, answer.json()) == (202, {"accepted": 0, "event_ids": []})
    assert stored(runtime) == 0


def test_source_defaults_apply_when_the_tool_sends_none(live: tuple[Runtime, httpx.Client]) -> None:
    runtime, client = live
    body = {"rule": "Shell in container", "output": "shell", "hostname": "web-1", "priority": "Bogus"}
    answer = client.post("/v1/events/falco", json=body, headers=BEARER)
    assert answer.status_code == 202
    with runtime.store.unit_of_work() as session:
        row = session.get(EventRow, answer.json()["event_id"])
        assert row is not None and row.severity == "high"


SAMPLE_BODIES = {
    path.name.split("_")[0].removesuffix(".json"): path.read_bytes() for path in SAMPLES.iterdir()
}
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _mutated(body: bytes, value: Any, where: int) -> bytes:
    """A sample with the ``where``-th value (depth first) replaced by ``value``."""
    data = json.loads(body)
    count = 0

    def walk(node: Any) -> Any:
        nonlocal count
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        count += 1
        return value if count == where else node

    return json.dumps(walk(data)).encode()


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    source = draw(st.sampled_from([*SAMPLE_BODIES, "generic", "alertmanager", "../x", "%00", "a" * 300]))
    body = draw(
        st.one_of(
            st.binary(max_size=300),
            _json_values.map(lambda v: json.dumps(v).encode()),
            st.builds(_mutated, st.just(SAMPLE_BODIES.get(source, b"{}")), _json_values, st.integers(1, 40)),
        )
    )
    ctype = draw(st.sampled_from(["application/json", "application/x+json; charset=x", "text/plain", ""]))
    headers = {**BEARER, **({"Content-Type": ctype} if ctype else {})}
    return source, body, headers


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(request=hostile_requests())
def test_no_body_however_hostile_gives_a_5xx(
    live: tuple[Runtime, httpx.Client], request: tuple[str, bytes, dict[str, str]]
) -> None:
    _, client = live
    source, body, headers = request
    answer = client.post(f"/v1/events/{source}", content=body, headers=headers)
    assert answer.status_code < 500, answer.text


@pytest.fixture
def live_postgresql(tmp_path: Path) -> Iterator[tuple[Runtime, httpx.Client]]:
    with services.postgres_database() as url, running(tmp_path, database_url=url) as pair:
        yield pair


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(request=hostile_requests())
def test_no_body_however_hostile_gives_a_5xx_on_postgresql(
    live_postgresql: tuple[Runtime, httpx.Client], request: tuple[str, bytes, dict[str, str]]
) -> None:
    _, client = live_postgresql
    source, body, headers = request
    answer = client.post(f"/v1/events/{source}", content=body, headers=headers)
    assert answer.status_code < 500, answer.text


def _with_nul(value: Any) -> Any:
    """Every string value wrapped in NUL and a bidi override; every key gets a NUL twin."""
    if isinstance(value, dict):
        return {
            **{f"{k}\x00": _with_nul(v) for k, v in value.items()},
            **{k: _with_nul(v) for k, v in value.items()},
        }
    if isinstance(value, list):
        return [_with_nul(v) for v in value]
    return f"\x00{value}\x00\u202e" if isinstance(value, str) else value


def test_nul_never_reaches_postgresql(tmp_path: Path) -> None:
    with services.postgres_database() as url, running(tmp_path, database_url=url) as (runtime, client):
        codes = {}
        for source, raw in SAMPLE_BODIES.items():
            body = json.dumps(_with_nul(json.loads(raw))).encode()
            codes[source] = client.post(
                f"/v1/events/{source}", content=body, headers=BEARER | JSON
            ).status_code
        assert all(code < 500 for code in codes.values()), codes
        assert stored(runtime) > 0
        with runtime.store.unit_of_work() as session:
            titles = session.scalars(select(EventRow.title)).all()
        assert titles and not any("\x00" in title or "\u202e" in title for title in titles)
