"""Incidents: events grouped by dedup key, with a lifecycle and first-class times."""
