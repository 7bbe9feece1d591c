"""``python -m orchestrator`` runs the command line."""

from orchestrator.cli.main import main

main()
