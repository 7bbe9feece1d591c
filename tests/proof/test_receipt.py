"""TikTok's webhook over real HTTP: signatures accepted and refused (wrong, missing, stale, replayed),
``authorization.removed`` reason 5 recorded as TikTok's confirmation, other reasons mark the token gone."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.proof.models import ProofRow
from orchestrator.revocation.models import LedgerRow, MemberRow, RevocationRow
from orchestrator.tiktok import simulator_webhook
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app

SECRET = "webhook-client-secret-planted-0099"
RUN = "run-receipt-1"


class Receiver:
    def __init__(self, runtime: Runtime, url: str, sim: TikTokSimulator) -> None:
        self.runtime, self.url, self.sim = runtime, url, sim

    def post(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["TikTok-Signature"] = signature
        return httpx.post(self.url, content=body, headers=headers)

    def ledger(self) -> dict[str, str]:
        with self.runtime.store.unit_of_work() as session:
            return {row.open_id: row.status for row in session.scalars(select(LedgerRow))}

    def proofs(self) -> list[tuple[str, str, str]]:
        with self.runtime.store.unit_of_work() as session:
            rows = session.scalars(select(ProofRow).order_by(ProofRow.id))
            return [(row.open_id, row.source, row.result) for row in rows]


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    settings = load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "tiktok_client_key": "sim-client-key",
            "tiktok_client_secret": SECRET,
        }
    )
    runtime = make_runtime(settings)
    now = clock.utcnow()
    with runtime.store.unit_of_work() as session:
        session.add(
            RevocationRow(id="rev1", key="k1", run_id=RUN, scope={}, created_at=now, status="finished")
        )
        session.flush()
        for n, status in enumerate(("revoked", "pending", "revoked")):
            row = LedgerRow(revocation_id="rev1", fingerprint=f"{n:064x}", open_id=f"u-{n}", status=status)
            session.add(row)
            session.flush()
            session.add(MemberRow(revocation_id="rev1", ledger_id=row.id))
    with (
        TikTokSimulator(SimulatorOptions(client_secret=SECRET)) as sim,
        serve_app(create_app(runtime)) as base,
    ):
        yield Receiver(runtime, base + "/v1/tiktok/webhook", sim)
    runtime.close()


def now_s() -> int:
    return int(clock.utcnow().timestamp())


def test_reason_5_from_the_simulator_is_recorded_as_tiktoks_confirmation(receiver: Receiver) -> None:
    assert receiver.sim.send_authorization_removed("u-0", 5, url=receiver.url) == 200
    assert receiver.proofs() == [("u-0", "receipt", "dead")]
    assert receiver.ledger() == {"u-0": "revoked", "u-1": "pending", "u-2": "revoked"}
    with receiver.runtime.store.unit_of_work() as session:
        entry = timeline.entries(session, RUN)[-1]
        assert (entry.kind, entry.data["confirms"], entry.data["reason"]) == (kinds.TIKTOK_RECEIPT, True, 5)
        assert entry.data["fingerprints"] == [f"{0:064x}"]


@pytest.mark.parametrize("reason", [1, 2])
def test_other_reasons_mark_the_token_gone(receiver: Receiver, reason: int) -> None:
    assert receiver.sim.send_authorization_removed("u-1", reason, url=receiver.url) == 200
    assert receiver.ledger()["u-1"] == "gone"
    assert receiver.proofs() == [("u-1", "receipt", "gone")]


def test_a_signature_over_the_documented_payload_is_accepted(receiver: Receiver) -> None:
    body = (
        b'{"client_key":"sim-client-key","event":"authorization.removed","create_time":1615338610,'
        b'"user_openid":"u-2","content":"{\\"reason\\": 5 }"}'
    )
    stamp = now_s()
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    response = receiver.post(body, f"t={stamp},s={digest}")
    assert (response.status_code, response.json()["confirms"]) == (200, True)


def test_an_unmatched_open_id_or_another_event_is_acknowledged_and_changes_nothing(
    receiver: Receiver,
) -> None:
    assert receiver.sim.send_authorization_removed("stranger", 5, url=receiver.url) == 200
    body = b'{"client_key":"sim-client-key","event":"video.publish.completed","user_openid":"u-0"}'
    assert receiver.post(body, simulator_webhook.sign(SECRET, body, now_s())).status_code == 200
    assert receiver.proofs() == []


def signed(secret: str = SECRET, *, age: int = 0, open_id: str = "u-0") -> tuple[bytes, str]:
    body = simulator_webhook.authorization_removed("sim-client-key", open_id, 5)
    return body, simulator_webhook.sign(secret, body, now_s() - age)


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("wrong secret", lambda: signed("another-secret")),
        ("missing", lambda: (signed()[0], None)),
        ("malformed", lambda: (signed()[0], "sha256=abc")),
        ("stale", lambda: signed(age=301)),
        ("from the future", lambda: signed(age=-310)),
        ("body changed", lambda: (signed()[0].replace(b"u-0", b"u-2"), signed()[1])),
    ],
)
def test_bad_signatures_are_refused_with_401_before_parsing(
    receiver: Receiver, case: str, make: object
) -> None:
    body, signature = make()  # type: ignore[operator]
    response = receiver.post(body, signature)
    assert response.status_code == 401, case
    assert receiver.proofs() == [] and receiver.ledger()["u-0"] == "revoked"


def test_a_replayed_delivery_is_refused(receiver: Receiver) -> None:
    body, signature = signed()
    assert receiver.post(body, signature).status_code == 200
    again = receiver.post(body, signature)
    assert (again.status_code, again.json()["error"]) == (401, "invalid TikTok-Signature")
    assert receiver.proofs() == [("u-0", "receipt", "dead")]


def test_a_replay_with_its_signature_header_respelled_is_refused(receiver: Receiver) -> None:
    body, signature = signed()
    assert receiver.post(body, signature).status_code == 200
    stamp, digest = (part.split("=", 1)[1] for part in signature.split(","))
    respelled = [f"s={digest},t={stamp}", f"t={stamp}, s={digest.upper()}", f"t={stamp},s={digest},x=1"]
    assert [receiver.post(body, header).status_code for header in respelled] == [401] * 3
    assert receiver.proofs() == [("u-0", "receipt", "dead")]


def test_an_old_genuine_delivery_gets_the_same_401_as_a_forged_one(receiver: Receiver) -> None:
    """Telling "stale" from "wrong" would confirm that a captured, old delivery is genuine."""
    genuine, forged = signed(age=3600), signed("another-secret", age=3600)
    answers = [receiver.post(*genuine), receiver.post(*forged), receiver.post(genuine[0], None)]
    assert [(a.status_code, a.json()) for a in answers] == [(401, {"error": "invalid TikTok-Signature"})] * 3


def test_a_fresh_redelivery_of_the_same_event_is_recorded_once_more_harmlessly(receiver: Receiver) -> None:
    body = simulator_webhook.authorization_removed("sim-client-key", "u-0", 5, create_time=1)
    first = now_s()
    assert receiver.post(body, simulator_webhook.sign(SECRET, body, first)).status_code == 200
    assert receiver.post(body, simulator_webhook.sign(SECRET, body, first - 1)).status_code == 200
    assert {r for r in receiver.proofs()} == {("u-0", "receipt", "dead")}
