"""Fault tests on the real services and processes: each scenario loses nothing and doubles nothing."""
