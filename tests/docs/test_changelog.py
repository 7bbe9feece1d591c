"""CHANGELOG.md has an upgrade note per release, and it names every migration since the first
release it covers (0012) and says truly whether it is additive, as the migration module does
(``additive = True``): operators decide from it whether they can upgrade rolling."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.script import ScriptDirectory

from orchestrator.store import migrate

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"
FIRST_NOTED = "0012"


def test_every_release_has_an_upgrade_note() -> None:
    releases = re.split(r"^## ", CHANGELOG.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
    assert releases
    for release in releases:
        assert "\n### Upgrade note\n" in release, f"{release.splitlines()[0]}: no upgrade note"


def test_every_migration_is_named_with_whether_it_is_additive() -> None:
    text = " ".join(CHANGELOG.read_text(encoding="utf-8").split())
    scripts = ScriptDirectory(str(Path(migrate.__file__).parent / "migrations"))
    for script in scripts.walk_revisions():
        if script.revision < FIRST_NOTED:
            continue
        start = text.find(f"Migration {script.revision} ")
        assert start >= 0, f"CHANGELOG.md does not name migration {script.revision}"
        ends = (text.find("Migration 0", start + 1), text.find(" - ", start), len(text))
        end = min(i for i in ends if i > 0)
        said = text[start:end]
        additive = getattr(script.module, "additive", False)
        assert ("not additive" not in said and "is additive" in said) == additive, said
