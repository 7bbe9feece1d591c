"""The environment of `orchestrator up` in the ChatOps end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.engine import BOT_TOKEN, SIGNING_SECRET
from tests.support.processes import orchestrator_env
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN

__all__ = ["slack_up_env"]


def slack_up_env(
    data_dir: Path, *, port: int, books: Path, slack_url: str, **settings: str
) -> dict[str, str]:
    """Its port and tokens, the test's playbooks (``books``), a fast relay, and Slack pointed at
    the stand-in at ``slack_url``; ``settings`` add to them."""
    return orchestrator_env(
        data_dir,
        port=str(port),
        intake_token=INTAKE_TOKEN,
        api_token=API_TOKEN,
        playbook_dirs=json.dumps([str(books)]),
        relay_interval_seconds="0.2",
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_url,
        **settings,
    )
