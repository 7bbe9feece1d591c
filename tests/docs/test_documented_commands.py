"""Every ``orchestrator ...`` command in README.md and docs/ exists, with the options shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.cli_check import command_problems, documented_commands
from tests.docs.markdown import DOCS, PROJECT


@pytest.mark.parametrize("doc", DOCS, ids=[str(doc.relative_to(PROJECT)) for doc in DOCS])
def test_every_documented_command_exists(doc: Path) -> None:
    assert command_problems(doc) == []


def test_the_readme_shows_commands_that_are_checked() -> None:
    shown = {words for _, words in documented_commands(PROJECT / "README.md")}
    assert "tokens revoke --scope all --dry-run" in shown
    assert "serve | worker | scheduler" in shown
    assert "timeline <INCIDENT_ID>" in shown  # .venv/bin/orchestrator, in a block


BOGUS_DOC = """\
```sh
orchestrator tokens revok --scope all
orchestrator run list --bogus
orchestrator incident verify --all   orchestrator incident verfy ID
ORCH_API_PROCESSES=2 orchestrator serv
sudo -u orchestrator orchestrator workr --queues events
.venv/bin/python -m orchestrator db upgrad
docker compose exec -T -e ORCH_LOG_LEVEL=debug api orchestrator incident lst
```

Run `orchestrator serve | workr` or `orchestrator drill histroy`; `orchestrator switch` alone;
`ORCH_DRILL__TOKENS=50 orchestrator drill strat`.
"""


def test_a_bogus_command_or_option_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "bogus.md"
    doc.write_text(BOGUS_DOC, encoding="utf-8")
    problems = [problem.split(": ", 1)[1] for problem in command_problems(doc)]
    assert problems == [
        "orchestrator tokens revok --scope all: orchestrator tokens: no command 'revok'",
        "orchestrator run list --bogus: orchestrator run list: no option --bogus",
        "orchestrator incident verfy ID: orchestrator incident: no command 'verfy'",
        "orchestrator serv: orchestrator: no command 'serv'",
        "orchestrator workr --queues events: orchestrator: no command 'workr'",
        "orchestrator db upgrad: orchestrator db: no command 'upgrad'",
        "orchestrator incident lst: orchestrator incident: no command 'lst'",
        "orchestrator serve | workr: orchestrator: no command 'workr'",
        "orchestrator drill histroy: orchestrator drill: no command 'histroy'",
        "orchestrator switch: orchestrator switch: a group, not a command",
        "orchestrator drill strat: orchestrator drill: no command 'strat'",
    ]
