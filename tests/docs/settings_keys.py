"""Which settings a documented key or ``ORCH_*`` variable names, by the loader's own rules.

pydantic-settings ignores an ``ORCH_*`` variable that names no field (``ORCH_DRILL_TOKENS`` for
``drill.tokens`` loads without a word), so a documented variable is resolved here: the name
after the prefix, lower-cased, split on ``__`` into nested keys, each of which must exist.
"""

from __future__ import annotations

import fnmatch
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, TypeAdapter

from orchestrator.config import ENV_PREFIX, Settings

__all__ = ["SAMPLE", "env_path", "flat_spellings", "nested_keys", "resolve", "sample_value", "secret_keys"]

SAMPLE = "docs-sample-value"
"""Stands in for a value a document leaves out (``...``, ``<secret>``) where any text will do."""


def _model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(present) == 1:
            return present[0]
    return annotation


def resolve(path: list[str], model: type[BaseModel] = Settings) -> tuple[Any, Any]:
    """The annotation and default at ``path`` (``["drill", "tokens"]``); ``KeyError`` naming the
    first unknown key. A ``*`` in a key matches any field name; a dict's key is any name."""
    annotation: Any = model
    default: Any = None
    for depth, key in enumerate(path):
        annotation = _unwrap_optional(annotation)
        nested = _model(annotation)
        if nested is not None:
            matches = fnmatch.filter(nested.model_fields, key)
            if not matches:
                raise KeyError(".".join(path[: depth + 1]))
            field = nested.model_fields[matches[0]]
            annotation, default = field.annotation, field.get_default(call_default_factory=True)
        elif get_origin(annotation) is dict:
            annotation, default = get_args(annotation)[1], None
        elif annotation is Any:
            return Any, None
        else:
            raise KeyError(".".join(path[: depth + 1]))
    return annotation, default


def env_path(name: str) -> list[str]:
    """``ORCH_SOURCES__SPLUNK__AUTH`` -> ``["sources", "splunk", "auth"]`` (not yet checked)."""
    return name.removeprefix(ENV_PREFIX).lower().split("__")


def sample_value(annotation: Any, default: Any) -> str:
    """A valid value, as an environment variable would carry it: the default where there is one
    (some settings accept only certain shapes, e.g. URLs), else one of the right type."""
    annotation = _unwrap_optional(annotation)
    if default is not None:
        return default if isinstance(default, str) else TypeAdapter(annotation).dump_json(default).decode()
    if annotation in (str, SecretStr, Path, Any):
        return SAMPLE
    raise TypeError(f"no sample for {annotation!r}")


def nested_keys() -> set[str]:
    """Top-level keys with keys of their own (``drill``, ``sources``): prose names them dotted."""
    return {
        name
        for name, field in Settings.model_fields.items()
        if _model(_unwrap_optional(field.annotation)) is not None or get_origin(field.annotation) is dict
    }


def secret_keys() -> set[str]:
    """Top-level keys that may come from a file (``ORCH_<KEY>_FILE``)."""
    return {
        name
        for name, field in Settings.model_fields.items()
        if _unwrap_optional(field.annotation) is SecretStr
    }


def flat_spellings() -> dict[str, str]:
    """Each setting as prose might spell it flat, mapped to its key: ``database_pool_size`` to
    itself, ``drill_tokens`` to ``drill.tokens`` (a nested key written with ``_`` for ``.``)."""
    spellings: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        spellings[name] = name
        nested = _model(_unwrap_optional(field.annotation))
        for key in nested.model_fields if nested is not None else ():
            spellings[f"{name}_{key}"] = f"{name}.{key}"
    return spellings
