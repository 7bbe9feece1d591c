"""Benchmarks of the orchestrator: runnable scripts that print figures; not tests."""
