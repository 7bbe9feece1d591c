"""The PagerDuty and Opsgenie clients against their stand-ins: documented shapes, and which
failures may succeed later; the keys never appear in what a failure says."""

from __future__ import annotations

import pytest

from orchestrator.paging.providers import Opsgenie, Page, PagerDuty, PagingFailed
from tests.support.paging_standins import opsgenie_standin, pagerduty_standin
from tests.support.processes import free_port

ROUTING_KEY = "R0unit5e3f4a9b8c7d6e5f4a3b2c1d0e9f"
GENIE_KEY = "0b7e2c4d-unit-4f6a-8b9c-d1e2f3a4b5c6"
PAGE = Page(key="orchestrator-inc-1", summary="[critical] leaked secret", severity="critical", source="t")


def test_pagerduty_trigger_then_resolve_under_one_dedup_key() -> None:
    with pagerduty_standin(ROUTING_KEY) as service:
        pager = PagerDuty(url=service.url, routing_key=ROUTING_KEY)
        sent = pager.trigger(PAGE)
        resolved = pager.resolve(PAGE.key, "done")
    assert (sent.status_code, sent.body) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": PAGE.key},
    )
    assert resolved.status_code == 202
    assert service.alerts[PAGE.key]["status"] == "resolved"
    assert service.requests[0].body["payload"] == {
        "summary": "[critical] leaked secret",
        "source": "t",
        "severity": "critical",
        "custom_details": {},
    }


def test_opsgenie_create_then_close_by_alias() -> None:
    with opsgenie_standin(GENIE_KEY) as service:
        pager = Opsgenie(url=service.url, api_key=GENIE_KEY)
        sent = pager.trigger(PAGE)
        pager.resolve(PAGE.key, "done")
    assert sent.status_code == 202 and sent.body["result"] == "Request will be processed"
    assert service.alerts[PAGE.key]["status"] == "closed"
    assert service.requests[0].headers["authorization"] == f"GenieKey {GENIE_KEY}"
    assert service.requests[1].path == "/v2/alerts/orchestrator-inc-1/close?identifierType=alias"


def test_a_wrong_key_is_not_retried_and_not_repeated() -> None:
    with pagerduty_standin("another-key") as pd, opsgenie_standin("another-key") as og:
        with pytest.raises(PagingFailed) as pd_failed:
            PagerDuty(url=pd.url, routing_key=ROUTING_KEY).trigger(PAGE)
        with pytest.raises(PagingFailed) as og_failed:
            Opsgenie(url=og.url, api_key=GENIE_KEY).trigger(PAGE)
    assert str(pd_failed.value) == "PagerDuty answered HTTP 400 Event object is invalid"
    assert str(og_failed.value) == "Opsgenie answered HTTP 401 Could not authenticate"
    assert not pd_failed.value.retryable and not og_failed.value.retryable


def test_a_server_error_or_no_answer_may_succeed_later() -> None:
    with pagerduty_standin(ROUTING_KEY) as service:
        service.fail_next(1)
        with pytest.raises(PagingFailed) as failed:
            PagerDuty(url=service.url, routing_key=ROUTING_KEY).trigger(PAGE)
    assert failed.value.retryable and "HTTP 500" in str(failed.value)
    with pytest.raises(PagingFailed) as refused:
        PagerDuty(url=f"http://127.0.0.1:{free_port()}", routing_key=ROUTING_KEY, timeout=2).trigger(PAGE)
    assert refused.value.retryable and str(refused.value) == "PagerDuty: ConnectError"
