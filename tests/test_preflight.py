"""``orchestrator config check``: every part tried for real; exit 1 naming each missing or failing one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.chatops.mailbox import mailbox
from tests.support.processes import free_port, orchestrator_env
from tests.support.services import REDIS_URL, postgres_database, require
from tests.support.slack_standin import slack_standin

SLACK_TOKEN = "xoxb-planted-slack-token-41"
TIKTOK_SECRET = "planted-tiktok-secret-42"
PAGING_KEY = "planted-pagerduty-routing-key-46"


def config_check(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "config", "check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "data", **settings),
        timeout=120,
    )


def rows(stdout: str) -> dict[str, str]:
    """Part -> status, from the table the command prints."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        status, rest = line.split(None, 1)
        found[rest[:19].strip()] = status
    return found


def test_check_names_every_missing_part_and_the_missing_report_destination(tmp_path: Path) -> None:
    upgraded = subprocess.run(
        [sys.executable, "-m", "orchestrator", "db", "upgrade"],
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "data"),
        capture_output=True,
        timeout=120,
    )
    assert upgraded.returncode == 0
    smtp = f"smtp://ir:planted-smtp-password-43@127.0.0.1:{free_port()}"  # nothing listens there
    result = config_check(tmp_path, smtp_url=smtp, slack_signing_secret="planted-signing-44")
    assert result.returncode == 1
    assert rows(result.stdout) == {
        "store": "OK",
        "broker": "OK",
        "tiktok": "MISSING",
        "slack": "MISSING",
        "smtp": "FAILED",
        "paging": "OFF",
        "report destination": "MISSING",
        "playbooks": "OK",
    }
    assert result.stderr == "error: missing or failing: tiktok, slack, smtp, report destination\n"
    assert "ORCH_TIKTOK_REPORT_TO" in result.stdout and "ORCH_TIKTOK_CLIENT_KEY" in result.stdout
    for planted in ("planted-smtp-password-43", "planted-signing-44"):
        assert planted not in result.stdout + result.stderr


@pytest.mark.services
def test_check_passes_against_a_fully_configured_setup(tmp_path: Path) -> None:
    require(REDIS_URL, "Redis")
    options = SimulatorOptions(client_key="aw-check-key", client_secret=TIKTOK_SECRET)
    smtp_port = free_port()
    with (
        postgres_database() as database_url,
        TikTokSimulator(options) as tiktok,
        slack_standin(SLACK_TOKEN) as slack,
        mailbox(smtp_port) as box,
    ):
        settings = {
            "database_url": database_url,
            "broker_url": REDIS_URL,
            "tiktok_api_base": tiktok.base_url,
            "tiktok_client_key": options.client_key,
            "tiktok_client_secret": TIKTOK_SECRET,
            "slack_bot_token": SLACK_TOKEN,
            "slack_api_url": slack.url,
            "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
            "tiktok_report_to": "security@tiktok.example",
            "paging__pagerduty_routing_key": PAGING_KEY,
        }
        env = orchestrator_env(tmp_path / "data", **settings)
        migrated = subprocess.run(
            [sys.executable, "-m", "orchestrator", "db", "upgrade"], cwd=tmp_path, env=env, timeout=120
        )
        assert migrated.returncode == 0
        result = config_check(tmp_path, **settings)
        assert (result.returncode, result.stderr) == (0, ""), result.stdout
        assert set(rows(result.stdout).values()) == {"OK"}
        assert len(rows(result.stdout)) == 8
        assert "auth.test: team Stand-in, user ir-bot" in result.stdout
        assert slack.methods() == ["auth.test"]
        assert box.received() == []  # checked, nothing sent
        for planted in (SLACK_TOKEN, TIKTOK_SECRET, PAGING_KEY):
            assert planted not in result.stdout

        wrong = config_check(tmp_path, **{**settings, "tiktok_client_secret": "planted-rotated-away-45"})
        assert wrong.returncode == 1
        assert rows(wrong.stdout)["tiktok"] == "FAILED"
        assert wrong.stderr == "error: missing or failing: tiktok\n"
        assert "planted-rotated-away-45" not in wrong.stdout


def test_each_app_is_checked_with_its_own_credentials_and_named(tmp_path: Path) -> None:
    """Several TikTok apps (issue 27): a row per app, so a secret rotated away on one app is
    found before the compromise, and the other app's row still says it works."""
    shop = SimulatorOptions(client_key="aw-shop-key", client_secret="planted-shop-secret-47")
    ads = SimulatorOptions(client_key="aw-ads-key", client_secret="planted-ads-secret-48")
    with TikTokSimulator(shop) as shop_tiktok, TikTokSimulator(ads) as ads_tiktok:
        apps = [
            {"name": "shop", "kind": "login_kit", "client_key": shop.client_key,
             "client_secret": shop.client_secret, "api_base": shop_tiktok.base_url},
            {"name": "ads", "kind": "login_kit", "client_key": ads.client_key,
             "client_secret": "planted-rotated-away-49", "api_base": ads_tiktok.base_url},
        ]  # fmt: skip
        result = config_check(tmp_path, tiktok_apps=json.dumps(apps))
    found = rows(result.stdout)
    assert (found["tiktok shop"], found["tiktok ads"]) == ("OK", "FAILED")
    assert "tiktok" not in found  # no row for an app nobody configured
    assert "tiktok ads" in result.stderr and "tiktok shop" not in result.stderr
    for planted in ("planted-shop-secret-47", "planted-ads-secret-48", "planted-rotated-away-49"):
        assert planted not in result.stdout + result.stderr
