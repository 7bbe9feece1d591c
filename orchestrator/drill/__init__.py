"""Rehearsals: the demo and the drill run the real shipped playbooks against a stage of their own."""
