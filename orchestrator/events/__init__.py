"""Compromise events: the one normalised shape every source is turned into."""
