"""``simulate tiktok --help`` teaches; the server itself is tested in-process elsewhere."""

from __future__ import annotations

from click.testing import CliRunner

from orchestrator.cli.simulate import simulate


def test_help_lists_the_endpoints_and_fault_options() -> None:
    result = CliRunner().invoke(simulate, ["tiktok", "--help"])
    assert result.exit_code == 0
    for text in ("/v2/oauth/revoke/", "--rate-limit", "--dead-token-behaviour", "--tokens-out"):
        assert text in result.output


def test_group_help_names_the_command() -> None:
    result = CliRunner().invoke(simulate, ["--help"])
    assert result.exit_code == 0 and "tiktok" in result.output
