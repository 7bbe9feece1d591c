"""What the domain knows of the TikTok tokens an application holds: a record, a scope, the
fingerprint (the only form of a token the orchestrator stores) and the inventory port.

The inventories themselves (SQL table, JSON lines, a plugin) are adapters in ``inventory/``;
revocation, proof and purge depend on this port, never on them."""
