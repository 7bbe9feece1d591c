"""Every configuration key and ``ORCH_*`` variable in README.md and docs/ names a real setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.config import load_settings
from tests.docs.config_check import config_problems
from tests.docs.markdown import DOCS, PROJECT


@pytest.mark.parametrize("doc", DOCS, ids=[str(doc.relative_to(PROJECT)) for doc in DOCS])
def test_every_documented_key_loads(doc: Path) -> None:
    assert config_problems(doc) == []


BOGUS_DOC = """\
| key / variable | default | meaning |
|---|---|---|
| `broker_urls` | `redis://` | a plural too many |

```sh
export ORCH_TIKTOK_REVOKE_RATE=fast
export ORCH_DRILL_TOKENS=10
```

```yaml
sources:
  splunk: {default_severity: high, default_sevrity: low}
```

Set `drill.tokenz` for a larger drill, or `drill_tokens`; size the pool with `database_pool_sise`.
"""


def test_a_bogus_key_in_any_form_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "bogus.md"
    doc.write_text(BOGUS_DOC, encoding="utf-8")
    problems = "\n".join(config_problems(doc))
    assert "broker_urls: no such setting (broker_urls); did you mean broker_url?" in problems  # a table row
    assert "tiktok_revoke_rate (ORCH_TIKTOK_REVOKE_RATE): Input should be a valid number" in problems
    assert "ORCH_DRILL_TOKENS: no such setting (drill_tokens)" in problems  # a variable
    assert "sources.splunk.default_sevrity" in problems  # a YAML block, nested
    assert "drill.tokenz: no such setting" in problems  # inline prose
    # Flat names in prose, nearly a setting's:
    assert "drill_tokens: no such setting (drill_tokens); did you mean drill.tokens?" in problems
    assert (
        "database_pool_sise: no such setting (database_pool_sise); did you mean database_pool_size"
        in problems
    )
    assert len(config_problems(doc)) == 7


def test_a_renamed_key_in_any_table_of_settings_is_reported(tmp_path: Path) -> None:
    """docs/proof.md's Config table is headed ``key``: its first column is what makes it one."""
    row = "| `verify_min_sample` | 10 |"
    text = (PROJECT / "docs/proof.md").read_text(encoding="utf-8")
    assert row in text
    doc = tmp_path / "proof.md"
    doc.write_text(text.replace(row, "| `verify_least_sample` | 10 |"), encoding="utf-8")
    assert [problem.split(": ", 1)[1] for problem in config_problems(doc)] == [
        "verify_least_sample: no such setting (verify_least_sample)"
    ]


def test_nested_keys_are_double_underscored_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the documents are checked by name: the loader silently ignores a variable that names
    no setting, so ``ORCH_DRILL_TOKENS`` would leave the drill at its default."""
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORCH_DRILL_TOKENS", "7")
    assert load_settings().drill.tokens == 1000
    monkeypatch.setenv("ORCH_DRILL__TOKENS", "7")
    assert load_settings().drill.tokens == 7
