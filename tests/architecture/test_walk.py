"""docs/architecture.md walks one event in at most 12 hops; every hop names code that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
HOP = re.compile(r"^\| (\d+) \| `([^`]+)` \| `([^`]+)` \|", re.MULTILINE)


def hops() -> list[tuple[str, str]]:
    """(file, function) of each row of the walk's table, in order."""
    text = (PROJECT / "docs" / "architecture.md").read_text(encoding="utf-8")
    walk = text.split("## One event, from the webhook to a revoked token", 1)[1].split("\n## ", 1)[0]
    rows = HOP.findall(walk)
    assert [int(number) for number, _, _ in rows] == list(range(1, len(rows) + 1))
    return [(path, function) for _, path, function in rows]


def defined(path: Path, dotted: str) -> bool:
    """Whether ``dotted`` (``name`` or ``Class.method``) is defined at the top of ``path``."""
    body: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    for part in dotted.split("."):
        found = [
            node
            for node in body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == part
        ]
        if not found:
            return False
        body = found[0].body
    return True


def test_the_walk_takes_at_most_twelve_hops_from_the_splunk_route_to_revoked_at() -> None:
    walk = hops()
    assert 1 <= len(walk) <= 12
    assert walk[0] == ("intake/routes.py", "post_source_event")
    assert walk[-1] == ("incidents/lifecycle.py", "mark_revoked")


def test_every_hop_names_a_function_the_code_defines() -> None:
    missing = [
        f"{path}: {function}"
        for path, function in hops()
        if not (PROJECT / "orchestrator" / path).is_file()
        or not defined(PROJECT / "orchestrator" / path, function)
    ]
    assert missing == []


def test_a_renamed_function_is_missing(tmp_path: Path) -> None:
    module = tmp_path / "flows.py"
    module.write_text("class Batch:\n    def run(self) -> None: ...\n\ndef start() -> None: ...\n")
    assert defined(module, "start") and defined(module, "Batch.run")
    assert not defined(module, "begin") and not defined(module, "Batch.go")
