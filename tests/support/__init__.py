"""Helpers the tests share: real services on loopback and real processes."""
