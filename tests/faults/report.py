"""Rewrite docs/reliability.md's figures from the fault tests' own measurements.

    .venv/bin/python -m tests.faults.report [--figures FILE] [--dirty] [PYTEST ARGS...]

Without ``--figures`` it runs pytest on PYTEST ARGS (default: tests/faults and
tests/intake/test_broker_outage.py) with ``RELIABILITY_FIGURES`` set, so every
``record_figure`` call (tests/support/figures.py) appends a JSON line; with ``--figures FILE`` it
reads such lines written earlier. The figures of each test measured replace that test's earlier
ones; the others are kept (a state block at the end of the document holds them all), so a run of
one file updates its rows only. Each row names the combination and the commit it was measured on.
Figures of a test pytest no longer collects (renamed, removed, or its file gone) are dropped.
Figures measured on uncommitted changes (commit ``...+changes``) are refused unless ``--dirty``
is given: a figure should name a commit one can check out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from tests.support.figures import FIGURES_ENV, ROOT, measured_commit

__all__ = ["UncommittedFigures", "collected", "main", "merge", "render"]

DOC = ROOT / "docs" / "reliability.md"
DEFAULT_TESTS = ["tests/faults", "tests/intake/test_broker_outage.py"]
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
_STATE = re.compile(r"<!-- reliability-state (.*?) -->", re.S)


DIRTY = "+changes"


class UncommittedFigures(ValueError):
    """Figures measured on a work tree that differed from its commit, without ``dirty``."""


def merge(
    previous: list[dict[str, Any]],
    measured: list[dict[str, Any]],
    tests: Collection[str],
    *,
    dirty: bool = False,
) -> list[dict[str, Any]]:
    """``measured`` replaces every earlier figure of the tests it comes from; of a figure measured
    twice (a test run again into the same file), the last counts. Only figures of ``tests`` (the
    test ids pytest collects now) are kept. Measured figures stamped ``+changes`` raise
    ``UncommittedFigures`` unless ``dirty``."""
    uncommitted = sorted({f["commit"] for f in measured if f["commit"].endswith(DIRTY)})
    if uncommitted and not dirty:
        raise UncommittedFigures(
            f"figures measured on uncommitted changes ({', '.join(uncommitted)}): commit, measure "
            "again, or pass --dirty"
        )
    remeasured = {f["test"] for f in measured}
    latest = {(f["test"], f["name"], f["combination"]): f for f in measured}
    kept = [f for f in previous if f["test"] not in remeasured]
    return [f for f in kept + list(latest.values()) if f["test"] in tests]


def collected(tests: Collection[str]) -> set[str]:
    """The ids pytest collects now from the files ``tests`` name (a file gone has none)."""
    files = sorted({t.split("::", 1)[0] for t in tests if (ROOT / t.split("::", 1)[0]).is_file()})
    if not files:
        return set()
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 5):  # 5: nothing collected
        raise SystemExit(f"pytest could not collect {' '.join(files)}:\n{done.stdout[-2000:]}")
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


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
    parser.add_argument("--dirty", action="store_true", help="accept figures measured on uncommitted changes")
    args, pytest_args = parser.parse_known_args(argv)
    if not args.dirty and not args.figures and measured_commit().endswith(DIRTY):
        raise SystemExit("the work tree has uncommitted changes: commit them first, or pass --dirty")
    if args.figures:
        measured = [
            json.loads(line) for line in args.figures.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    else:
        measured = _measure(pytest_args or DEFAULT_TESTS)
    text = DOC.read_text(encoding="utf-8")
    found = _STATE.search(text)
    previous = json.loads(found.group(1)) if found else []
    try:
        tests = collected({f["test"] for f in previous + measured})
        figures = merge(previous, measured, tests, dirty=args.dirty)
    except UncommittedFigures as refused:
        raise SystemExit(str(refused)) from None
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + render(figures) + text[end:], encoding="utf-8")
    print(f"{len(measured)} figures measured, {len(figures)} in {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
