"""Records hide their tokens; scopes parse from text; fingerprints are the stored form."""

from __future__ import annotations

import hashlib

import pytest

from orchestrator.inventory import InventoryError, Scope, TokenInventory, TokenRecord, fingerprint
from orchestrator.inventory.jsonl import JsonLinesInventory
from orchestrator.tiktok.client import token_fingerprint


def test_a_record_never_shows_its_tokens() -> None:
    record = TokenRecord(open_id="u1", access_token="act.very-secret", refresh_token="rft.also-secret")
    shown = repr(record) + str(record)
    assert "act.very-secret" not in shown and "rft.also-secret" not in shown
    assert shown.startswith("TokenRecord(open_id='u1'")


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("all", Scope()),
        ("open_id:a, b,a", Scope(open_ids=("a", "b"))),
        ("label:region=eu", Scope(label=("region", "eu"))),
        ("tenant:acme", Scope(tenant="acme")),
    ],
)
def test_scopes_parse_from_the_cli_and_playbook_form(text: str, scope: Scope) -> None:
    assert Scope.parse(text) == scope


@pytest.mark.parametrize("text", ["", "everything", "open_id:", "label:novalue", "label:=x", "tenant:"])
def test_an_unreadable_scope_says_which_forms_exist(text: str) -> None:
    with pytest.raises(InventoryError, match="use all, open_id:"):
        Scope.parse(text)


def test_scope_as_dict_is_plain_timeline_data() -> None:
    assert Scope.parse("open_id:a,b").as_dict() == {"open_ids": ["a", "b"], "label": None, "tenant": None}
    assert Scope.with_label("k", "v").as_dict() == {"open_ids": None, "label": {"k": "v"}, "tenant": None}


def test_the_fingerprint_is_sha256_hex_and_extends_the_clients_log_form() -> None:
    token = "act.example-token"
    assert fingerprint(token) == hashlib.sha256(token.encode()).hexdigest()
    assert fingerprint(token)[:16] == token_fingerprint(token)


def test_adapters_satisfy_the_inventory_protocol() -> None:
    assert isinstance(JsonLinesInventory("x.jsonl"), TokenInventory)
