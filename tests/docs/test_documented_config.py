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
| `drill_tokens` | `1000` | the old flat spelling |

```sh
export ORCH_TIKTOK_REVOKE_RATE=fast
export ORCH_DRILL_TOKENS=10
```

```yaml
sources:
  splunk: {default_severity: high, default_sevrity: low}
```

Set `drill.tokenz` for a larger drill.
"""


def test_a_bogus_key_in_any_form_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "bogus.md"
    doc.write_text(BOGUS_DOC, encoding="utf-8")
    problems = "\n".join(config_problems(doc))
    assert "drill_tokens: no such setting" in problems  # a table row
    assert "tiktok_revoke_rate (ORCH_TIKTOK_REVOKE_RATE): Input should be a valid number" in problems
    assert "ORCH_DRILL_TOKENS: no such setting (drill_tokens)" in problems  # a variable
    assert "sources.splunk.default_sevrity" in problems  # a YAML block, nested
    assert "drill.tokenz: no such setting" in problems  # inline prose
    assert len(config_problems(doc)) == 5


def test_nested_keys_are_double_underscored_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the documents are checked by name: the loader silently ignores a variable that names
    no setting, so ``ORCH_DRILL_TOKENS`` would leave the drill at its default."""
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORCH_DRILL_TOKENS", "7")
    assert load_settings().drill.tokens == 1000
    monkeypatch.setenv("ORCH_DRILL__TOKENS", "7")
    assert load_settings().drill.tokens == 7
