"""Rewrite docs/reliability.md's figures from the fault tests' own measurements.

    .venv/bin/python -m tests.faults.report [--figures FILE] [PYTEST ARGS...]

Without ``--figures`` it runs pytest on PYTEST ARGS (default: tests/faults and
tests/intake/test_broker_outage.py) with ``RELIABILITY_FIGURES`` set, so every
``record_figure`` call (tests/support/figures.py) appends a JSON line; with ``--figures FILE`` it
reads such lines written earlier. The figures of each test measured replace that test's earlier
ones; the others are kept (a state block at the end of the document holds them all), so a run of
one file updates its rows only. Each row names the combination and the commit it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support.figures import FIGURES_ENV, ROOT

__all__ = ["main", "merge", "render"]

DOC = ROOT / "docs" / "reliability.md"
DEFAULT_TESTS = ["tests/faults", "tests/intake/test_broker_outage.py"]
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
_STATE = re.compile(r"<!-- reliability-state (.*?) -->", re.S)


def merge(previous: list[dict[str, Any]], measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``measured`` replaces every earlier figure of the tests it comes from; of a figure measured
    twice (a test run again into the same file), the last counts."""
    tests = {f["test"] for f in measured}
    latest = {(f["test"], f["name"], f["combination"]): f for f in measured}
    return [f for f in previous if f["test"] not in tests] + list(latest.values())


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(figures: list[dict[str, Any]]) -> str:
    """The generated block: one row a figure, grouped by test, with its combination and commit."""
    rows = ["| test | figure | value | combination | measured on |", "|---|---|---|---|---|"]
    for f in sorted(figures, key=lambda f: (f["test"], f["combination"])):
        value = f"{f['value']:,}" if isinstance(f["value"], int) else f["value"]
        rows.append(
            f"| `{_cell(f['test'])}` | {_cell(f['name'])} | {_cell(value)} {_cell(f['unit'])} "
            f"| {_cell(f['combination'])} | {f['commit']}, {f['date']} |"
        )
    state = json.dumps(figures, sort_keys=True).replace("--", "\\u002d\\u002d")
    return "\n".join([BEGIN, *rows, f"<!-- reliability-state {state} -->", END])


def _measure(pytest_args: list[str]) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", encoding="utf-8") as out:
        env = os.environ | {FIGURES_ENV: out.name}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        if done.returncode not in (0, 1):  # 1: some test failed; its figures still count
            raise SystemExit(f"pytest exited {done.returncode}")
        return [json.loads(line) for line in out.read().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", type=Path, help="JSON lines written earlier with RELIABILITY_FIGURES")
    args, pytest_args = parser.parse_known_args(argv)
    if args.figures:
        measured = [
            json.loads(line) for line in args.figures.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    else:
        measured = _measure(pytest_args or DEFAULT_TESTS)
    text = DOC.read_text(encoding="utf-8")
    found = _STATE.search(text)
    figures = merge(json.loads(found.group(1)) if found else [], measured)
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + render(figures) + text[end:], encoding="utf-8")
    print(f"{len(measured)} figures measured, {len(figures)} in {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
