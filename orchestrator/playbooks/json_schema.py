"""The published playbook JSON Schema: load it, and check data against it with paths."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["playbook_json_schema", "validation_errors"]


@cache
def _schema_text() -> str:
    return (
        resources.files("orchestrator.playbooks").joinpath("playbook.schema.json").read_text(encoding="utf-8")
    )


def playbook_json_schema() -> dict[str, Any]:
    """A fresh copy of ``playbook.schema.json`` (what ``orchestrator playbook schema`` prints)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(playbook_json_schema())


def validation_errors(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Schema violations in ``data`` as ``(path, message)``, deepest first."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: -len(e.absolute_path))
    return [(tuple(e.absolute_path), e.message) for e in errors]
