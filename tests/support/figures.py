"""``record_figure``: a fault test's measured figure, printed as a ``FIGURE:`` line and, when
``RELIABILITY_FIGURES`` names a file, appended to it as a JSON line with the test, the
combination and the commit, so ``python -m tests.faults.report`` can rewrite docs/reliability.md
from the tests' own figures rather than from figures copied by hand."""

from __future__ import annotations

import json
import os
import subprocess
import time
from functools import cache
from pathlib import Path

__all__ = [
    "COMBINATIONS",
    "EMBEDDED",
    "FIGURES_ENV",
    "POSTGRES_FOLDER",
    "RABBITMQ_STORE",
    "REDIS_STORE",
    "measured_commit",
    "record_figure",
    "record_figures",
]

FIGURES_ENV = "RELIABILITY_FIGURES"
EMBEDDED = "SQLite + folder broker"
REDIS_STORE = "SQLite + Redis"
RABBITMQ_STORE = "SQLite + RabbitMQ"
POSTGRES_FOLDER = "PostgreSQL + folder broker"
COMBINATIONS = {"redis": "PostgreSQL + Redis", "rabbitmq": "PostgreSQL + RabbitMQ", "embedded": EMBEDDED}
"""The combinations by the setup names of tests/revocation/concurrent.py."""
ROOT = Path(__file__).resolve().parents[2]


@cache
def measured_commit() -> str:
    """The commit measured, ``+changes`` when the work tree differed from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    )
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def record_figure(name: str, value: float | int | str, unit: str = "", combination: str = EMBEDDED) -> None:
    """Report one figure of the running test (observed, not asserted) on ``combination``."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    shown = f"{value} {unit}".strip()
    print(f"FIGURE: {combination}: {name}: {shown}", flush=True)
    target = os.environ.get(FIGURES_ENV)
    if not target:
        return
    line = {
        "test": test,
        "name": name,
        "value": value,
        "unit": unit,
        "combination": combination,
        "commit": measured_commit(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def record_figures(scenario: str, combination: str, **figures: float | int | str) -> None:
    """Several figures of one scenario, named ``scenario: key``; a key ending ``_s`` is seconds."""
    for key, value in figures.items():
        seconds = key.endswith("_s") and isinstance(value, float)
        shown = round(value, 1) if seconds and isinstance(value, float) else value
        name = f"{scenario}: {key}" if scenario else key
        record_figure(name, shown, "s" if seconds else "", combination)
