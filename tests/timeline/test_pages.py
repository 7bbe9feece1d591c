"""The HTML pages over real HTTP: operators only (bearer token or the login cookie), safe headers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from orchestrator.api.app import create_app
from orchestrator.timeline.pages import COOKIE
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN
from tests.support.server import serve_app
from tests.timeline.story import build_incident

INCIDENT = "inc-story000001"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    build_incident(runtime.store)
    with serve_app(create_app(runtime)) as url:
        yield url


def test_pages_refuse_callers_without_the_operators_token(base_url: str) -> None:
    for path in ("/incidents", f"/incidents/{INCIDENT}"):
        assert httpx.get(base_url + path).status_code == 401
        intake = httpx.get(base_url + path, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"})
        assert intake.status_code == 401
    browser = httpx.get(f"{base_url}/incidents/{INCIDENT}", headers=HTML)
    assert (browser.status_code, browser.headers["location"]) == (
        303,
        f"/incidents/login?next=/incidents/{INCIDENT}",
    )


def test_bearer_token_opens_the_index_and_the_page_with_strict_headers(base_url: str) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    index = httpx.get(f"{base_url}/incidents", headers=auth)
    assert index.status_code == 200 and f'href="/incidents/{INCIDENT}"' in index.text
    page = httpx.get(f"{base_url}/incidents/{INCIDENT}", headers=auth)
    assert page.status_code == 200
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None and f'<script nonce="{nonce.group(1)}">' in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{base_url}/incidents/inc-nope00000000", headers=auth).status_code == 404


def test_login_sets_a_page_only_cookie_that_never_holds_the_token(base_url: str) -> None:
    wrong = httpx.post(f"{base_url}/incidents/login", data={"token": INTAKE_TOKEN, "next": "/incidents"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    ok = httpx.post(
        f"{base_url}/incidents/login", data={"token": API_TOKEN, "next": f"/incidents/{INCIDENT}"}
    )
    assert (ok.status_code, ok.headers["location"]) == (303, f"/incidents/{INCIDENT}")
    cookie = ok.headers["set-cookie"]
    assert API_TOKEN not in cookie
    for flag in ("HttpOnly", "Path=/", "SameSite=lax", "Max-Age=43200"):
        assert flag in cookie
    value = ok.cookies[COOKIE]
    with httpx.Client(base_url=base_url, cookies={COOKIE: value}) as client:
        assert client.get(f"/incidents/{INCIDENT}").status_code == 200
        assert client.get("/docs").status_code == 200  # the API's docs are a page too
        assert client.get("/v1/incidents").status_code == 401  # the cookie opens the pages only
        assert client.get("/metrics").status_code == 401
    expires, _, mac = value.partition(".")
    forged = f"{int(expires) + 86400}.{mac}"
    assert httpx.get(f"{base_url}/incidents", cookies={COOKIE: forged}).status_code == 401


def test_login_never_redirects_off_the_pages(base_url: str) -> None:
    for target in ("//evil.example/incidents", "https://evil.example", "/v1/incidents"):
        answer = httpx.post(f"{base_url}/incidents/login", data={"token": API_TOKEN, "next": target})
        assert answer.headers["location"] == "/incidents"
