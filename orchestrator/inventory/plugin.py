"""Token inventories from other packages, found by entry point in ``orchestrator.token_inventory``.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."orchestrator.token_inventory"]
    vault = "mypackage.tokens:make_inventory"

and ``ORCH_TOKEN_INVENTORY=plugin:vault?path=/x&y=z`` calls ``make_inventory(path="/x", y="z")``,
which must return an object with ``stream``, ``count`` and ``delete`` (a ``TokenInventory``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from urllib.parse import parse_qsl

from orchestrator.tokens.inventory import InventoryError, TokenInventory

__all__ = ["ENTRY_POINT_GROUP", "load_plugin"]

ENTRY_POINT_GROUP = "orchestrator.token_inventory"


def load_plugin(spec: str) -> TokenInventory:
    """Build the inventory named by ``NAME`` or ``NAME?key=value&...`` (the part after ``plugin:``)."""
    name, _, query = spec.partition("?")
    name = name.strip()
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        raise InventoryError(
            f"no token inventory plugin {name!r} in entry point group {ENTRY_POINT_GROUP!r}"
            f" (installed: {', '.join(known) or 'none'})"
        )
    try:
        factory = found[0].load()
    except Exception as exc:
        raise InventoryError(f"token inventory plugin {name!r} failed to load: {type(exc).__name__}") from exc
    inventory = factory(**dict(parse_qsl(query, keep_blank_values=True)))
    if not isinstance(inventory, TokenInventory):
        raise InventoryError(f"token inventory plugin {name!r} did not return a TokenInventory")
    return inventory
