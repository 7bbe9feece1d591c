"""The card's per-app section and `/ir`'s ``app=NAME``: pure, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.chatops import cards, targets
from orchestrator.chatops.card_apps import AppState
from orchestrator.errors import ValidationFailed

AWARE = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
STATE = cards.CardState("inc-1", "Leak", "critical", "contained", switch_engaged=False, aware_at=AWARE)
SHOP = {"total": 500, "revoked": 480, "already_dead": 15, "failed": 5, "gone": 0, "pending": 0}


def _texts(state: cards.CardState) -> list[str]:
    _, blocks = cards.incident_card(state)
    return [str(b.get("text", {}).get("text", "")) for b in blocks] + [
        str(f["text"]) for b in blocks for f in b.get("fields", [])
    ]


def test_a_lone_default_app_leaves_the_card_as_it_was() -> None:
    texts = _texts(STATE)
    assert "*Kill switch*\n🟢 released" in texts
    assert not [t for t in texts if "TikTok apps" in t or "(all apps)" in t]


def test_several_apps_show_each_apps_switch_and_revoked_of_total() -> None:
    apps = (
        AppState("shop", engaged=True, concerned=True, figures=SHOP),
        AppState("ads", engaged=False, concerned=False),
    )
    texts = _texts(cards.CardState(**{**STATE.__dict__, "apps": apps}))
    assert "*Kill switch (all apps)*\n🟢 released" in texts
    assert (
        "*TikTok apps* (this incident concerns shop)\n"
        "• `shop`: 🛑 switch engaged · revoked 480 of 500 (already dead 15, failed 5)\n"
        "• `ads`: 🟢 switch released · no revocation"
    ) in texts
    every = tuple(AppState(a.name, a.engaged, True, a.figures) for a in apps)
    texts = _texts(cards.CardState(**{**STATE.__dict__, "apps": every, "switch_engaged": True}))
    assert "• `ads`: 🛑 disconnected (all-apps switch engaged) · no revocation" in texts[3]
    assert texts[3].startswith("*TikTok apps* (this incident concerns every app)")


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("app=shop secret leaked", ("shop", "secret leaked")),
        ("app:shop", ("shop", "")),
        ("--app shop  secret leaked", ("shop", "secret leaked")),
        ("shop secret leaked", (None, "shop secret leaked")),
        ("apps everywhere leaked", (None, "apps everywhere leaked")),
        ("--apparently leaked", (None, "--apparently leaked")),
        ("", (None, "")),
    ],
)
def test_only_the_app_mark_names_an_app(typed: str, named: tuple[str | None, str]) -> None:
    assert targets.app_and_rest(typed) == named


@pytest.mark.parametrize("typed", ["app=", "app= leaked", "--app", "--app "])
def test_a_mark_without_a_name_says_how_to_name_one(typed: str) -> None:
    with pytest.raises(ValidationFailed, match="name the app: `app=NAME`"):
        targets.app_and_rest(typed)
