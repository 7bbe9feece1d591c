"""Intake: authenticate webhook deliveries and normalise each tool's body into compromise events."""
