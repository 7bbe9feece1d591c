"""The store: SQLAlchemy engine, unit of work, migrations and the outbox."""
