"""What a rehearsal (the demo, a drill) shows of each app, and must never print: its planted secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

from orchestrator.tiktok.simulator import SimulatorOptions

__all__ = ["app_lines", "assert_nothing_secret"]

_APP_LINE = re.compile(
    r"^    (\w+)\s+(\w+)\s+switch (\w+)\s+guard (\w+) calls\s+"
    r"revoked (\d+) of (\d+) \((\d+) revoke requests\)$",
    re.M,
)


def app_lines(shown: str) -> list[tuple[str, ...]]:
    """The per-app lines: name, kind, switch, guard, revoked, of total, revoke requests."""
    return _APP_LINE.findall(shown)


def assert_nothing_secret(shown: str, folder: Path) -> None:
    """No token of any app's inventory in ``folder``, no client or Business secret of the
    simulators, no API token and no line of the evidence key appears in ``shown``."""
    inventory = [
        json.loads(line) for path in folder.glob("*tokens.jsonl") for line in path.read_text().splitlines()
    ]
    assert inventory, f"no inventory in {folder}"
    options = SimulatorOptions()
    secrets = [r["access_token"] for r in inventory] + [
        r["refresh_token"] for r in inventory if r.get("refresh_token")
    ]
    secrets += [
        options.client_secret,
        options.business_secret,
        "rehearsal-api-token",
        "rehearsal-intake-token",
    ]
    key = folder / "data" / "evidence-key.pem"
    if key.exists():
        secrets.append(key.read_text().splitlines()[1])
    assert [s for s in secrets if s in shown] == []
    assert "PRIVATE KEY" not in shown and not re.search(r"\b(act|rft|clt)\.\w{8,}", shown)
