"""The reliability report's merge: figures of tests that are gone leave the document, figures
measured on uncommitted changes are refused unless asked for, a test measured again replaces its
own figures only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults import report

HERE = "tests/faults/test_report.py"


def _figure(test: str, name: str, value: int, commit: str = "abc1234") -> dict[str, Any]:
    return {
        "test": test,
        "name": name,
        "value": value,
        "unit": "",
        "combination": "PostgreSQL + Redis",
        "commit": commit,
        "date": "2026-12-07",
    }


def test_a_test_measured_again_replaces_its_figures_and_a_removed_test_loses_its_own() -> None:
    kept, remeasured, gone = "t.py::test_kept", "t.py::test_again[redis]", "t.py::test_renamed_since"
    previous = [_figure(kept, "repeats", 1), _figure(remeasured, "repeats", 2), _figure(gone, "repeats", 3)]
    measured = [_figure(remeasured, "repeats", 4, "def5678"), _figure(remeasured, "repeats", 5, "def5678")]
    merged = report.merge(previous, measured, {kept, remeasured})
    assert [(f["test"], f["value"], f["commit"]) for f in merged] == [
        (kept, 1, "abc1234"),
        (remeasured, 5, "def5678"),  # of a figure measured twice, the last counts
    ]


def test_figures_measured_on_uncommitted_changes_are_refused_unless_dirty() -> None:
    test = "t.py::test_a"
    measured = [_figure(test, "repeats", 1, "abc1234+changes")]
    with pytest.raises(report.UncommittedFigures, match=r"abc1234\+changes.*--dirty"):
        report.merge([], measured, {test})
    assert report.merge([], measured, {test}, dirty=True) == measured


def test_collected_names_the_tests_pytest_collects_now() -> None:
    """A real collection: this file's tests are there, a test or a file that is gone is not."""
    asked = {f"{HERE}::test_no_longer_here", "tests/faults/test_gone_since.py::test_x"}
    found = report.collected(asked)
    assert f"{HERE}::test_collected_names_the_tests_pytest_collects_now" in found
    assert not found & asked
