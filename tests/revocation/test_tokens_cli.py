"""`orchestrator tokens`: a dry run counts the scope and tells the ETA; errors name what to fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.processes import orchestrator_env


def run(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=orchestrator_env(tmp / "data", **env),
        timeout=60,
    )


def test_dry_run_counts_the_scope_and_shows_the_eta(tmp_path: Path) -> None:
    inventory = tmp_path / "tokens.jsonl"
    lines = [
        {
            "open_id": f"u{i}",
            "access_token": f"act.secret{i:06d}!1.va",
            "labels": {"tenant": "a" if i % 2 else "b"},
        }
        for i in range(7200)
    ]
    inventory.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run(
        ["tokens", "revoke", "--scope", "tenant:a", "--dry-run"],
        tmp_path,
        token_inventory=str(inventory),
        tiktok_revoke_rate="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3600 tokens in scope tenant:a: about 1.0 h at 1/s"
    assert "act.secret" not in result.stdout + result.stderr


def test_dry_run_counts_each_app_and_app_picks_which(tmp_path: Path) -> None:
    def app(name: str, count: int, rate: float) -> dict[str, object]:
        inventory = tmp_path / f"{name}.jsonl"
        lines = [
            {"open_id": f"{name}{i}", "access_token": f"act.{name}secret{i:06d}!1.va"} for i in range(count)
        ]
        inventory.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return {"name": name, "kind": "login_kit", "client_key": f"{name}-key",
                "client_secret": f"{name}-secret-0000", "token_inventory": str(inventory),
                "revoke_rate": rate}  # fmt: skip

    apps = json.dumps([app("shop", 120, 2), app("ads", 30, 1)])
    both = run(["tokens", "revoke", "--dry-run"], tmp_path, tiktok_apps=apps)
    assert both.returncode == 0, both.stderr
    assert both.stdout.splitlines() == [
        "shop: 120 tokens in scope all: about 60 s at 2/s",
        "ads: 30 tokens in scope all: about 30 s at 1/s",
    ]
    one = run(["tokens", "revoke", "--app", "ads", "--dry-run"], tmp_path, tiktok_apps=apps)
    assert one.stdout.splitlines() == ["ads: 30 tokens in scope all: about 30 s at 1/s"]
    typo = run(["tokens", "revoke", "--app", "adz", "--dry-run"], tmp_path, tiktok_apps=apps)
    assert typo.returncode == 1
    assert typo.stderr == "error: no TikTok app named 'adz' is configured (tiktok_apps: shop, ads)\n"
    outputs = both.stdout + both.stderr + one.stdout + typo.stdout + typo.stderr
    assert "secret" not in outputs


def test_missing_inventory_is_one_clear_line(tmp_path: Path) -> None:
    result = run(["tokens", "revoke", "--dry-run"], tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr
        == "error: token_inventory (ORCH_TOKEN_INVENTORY) is not set: where are the tokens kept?\n"
    )


def test_bad_scope_says_what_to_type(tmp_path: Path) -> None:
    inventory = tmp_path / "tokens.jsonl"
    inventory.write_text("")
    result = run(
        ["tokens", "revoke", "--scope", "everyone", "--dry-run"], tmp_path, token_inventory=str(inventory)
    )
    assert result.returncode == 1
    assert "use all, open_id:ID[,ID...], label:KEY=VALUE or tenant:NAME" in result.stderr
