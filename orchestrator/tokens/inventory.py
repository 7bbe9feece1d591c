"""The token-inventory port: ``TokenRecord``, ``Scope`` and the three-method ``TokenInventory``
(``DatabaseInventory`` when it is kept in a SQL database, as purge's records often are too)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from orchestrator.errors import OrchestratorError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DatabaseInventory",
    "InventoryError",
    "Scope",
    "TokenInventory",
    "TokenRecord",
    "parse_expiry",
]

DEFAULT_BATCH_SIZE = 500
TENANT_LABEL = "tenant"


class InventoryError(OrchestratorError):
    """The token inventory cannot be read or changed; the message never holds a token."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One authorisation the application holds; tokens never appear in ``repr``."""

    open_id: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which records: every field given must match (no field at all = every record).

    ``tenant`` is the label ``tenant`` unless the SQL column mapping names a tenant column.
    """

    open_ids: tuple[str, ...] | None = None
    label: tuple[str, str] | None = None
    tenant: str | None = None
    _id_set: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_id_set", frozenset(self.open_ids or ()))

    @classmethod
    def all(cls) -> Scope:
        return cls()

    @classmethod
    def of_open_ids(cls, open_ids: Sequence[str]) -> Scope:
        return cls(open_ids=tuple(dict.fromkeys(open_ids)))

    @classmethod
    def with_label(cls, key: str, value: str) -> Scope:
        return cls(label=(key, value))

    @classmethod
    def of_tenant(cls, tenant: str) -> Scope:
        return cls(tenant=tenant)

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``all``, ``open_id:a,b,c``, ``label:key=value`` or ``tenant:name`` (CLI and playbooks)."""
        kind, _, rest = text.strip().partition(":")
        kind = kind.strip().lower()
        if kind == "all" and not rest:
            return cls.all()
        if kind in ("open_id", "open_ids") and rest.strip():
            return cls.of_open_ids([part.strip() for part in rest.split(",") if part.strip()])
        if kind == "label" and "=" in rest:
            key, _, value = rest.partition("=")
            if key.strip():
                return cls.with_label(key.strip(), value.strip())
        if kind == "tenant" and rest.strip():
            return cls.of_tenant(rest.strip())
        raise InventoryError(
            f"scope {text!r} not understood: use all, open_id:ID[,ID...], label:KEY=VALUE or tenant:NAME"
        )

    @property
    def is_all(self) -> bool:
        return self.open_ids is None and self.label is None and self.tenant is None

    def matches(self, record: TokenRecord) -> bool:
        """Whether ``record`` is in this scope (tenant read from the ``tenant`` label)."""
        if self.open_ids is not None and record.open_id not in self._id_set:
            return False
        if self.label is not None and record.labels.get(self.label[0]) != self.label[1]:
            return False
        return self.tenant is None or record.labels.get(TENANT_LABEL) == self.tenant

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the timeline (open_ids are not secrets)."""
        return {
            "open_ids": list(self.open_ids) if self.open_ids is not None else None,
            "label": {self.label[0]: self.label[1]} if self.label else None,
            "tenant": self.tenant,
        }


@runtime_checkable
class TokenInventory(Protocol):
    """Where the application keeps its TikTok tokens; streamed, never loaded whole."""

    def stream(self, scope: Scope, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[list[TokenRecord]]:
        """Yield the records in ``scope`` in lists of at most ``batch_size``."""
        ...

    def count(self, scope: Scope) -> int | None:
        """How many records are in ``scope``, or None when that cannot be told cheaply."""
        ...

    def delete(self, open_ids: Sequence[str]) -> int:
        """Delete every record of these ``open_id``s; return how many records went."""
        ...


@runtime_checkable
class DatabaseInventory(TokenInventory, Protocol):
    """An inventory kept in a SQL database: purge deletes the TikTok-derived records there
    unless a ``purge_records`` entry names another database."""

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the inventory's database."""
        ...


def parse_expiry(value: Any) -> datetime | None:
    """An aware UTC datetime from a datetime, Unix seconds or an ISO 8601 string (None stays None)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            return parse_expiry(float(value))
        except ValueError:
            pass
        try:
            return parse_expiry(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise InventoryError(f"expires_at has an unreadable value of type {type(value).__name__}")
