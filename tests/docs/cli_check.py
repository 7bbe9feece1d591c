"""Every ``orchestrator ...`` command a document shows, looked up in the click CLI itself.

A command line is read the way the documents write them: ``a | b | c`` after a subcommand lists
alternatives (``orchestrator serve | worker | scheduler``), ``[...]`` marks optional parts, and
two commands may stand side by side on one line. What may come before ``orchestrator`` is read
too: variables (``ORCH_API_PROCESSES=2 orchestrator serve``), ``sudo -u USER``, ``python -m``
and ``docker compose run|exec [options] SERVICE``. Each subcommand must exist, and each
``--option`` must be one the command (or a group above it) accepts.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from orchestrator.cli.main import cli
from tests.docs.markdown import code_blocks, inline_code

__all__ = ["command_problems", "documented_commands"]

_ASSIGNMENTS = r"""(?:[A-Za-z_]\w*=(?:"[^"]*"|'[^']*'|\S*)\s+)*"""
# What a command line may put before ``orchestrator``, each part optional, in this order.
_LEAD = re.compile(
    rf"""\s*(?:\$\s+)?{_ASSIGNMENTS}
    (?:sudo(?:\s+-[ugHE]+(?:\s+(?!-)\S+)?)*\s+{_ASSIGNMENTS})?
    (?:env\s+{_ASSIGNMENTS})?
    (?:(?:\S*/)?python[0-9.]*\s+-m\s+
      |docker[\s-]compose(?:\s+-\S+(?:\s+(?!-)\S+)?)*\s+(?:run|exec)
        (?:\s+(?:-[euwv]|--(?:env|user|workdir|volume|name|entrypoint))\s+\S+|\s+-\S+)*\s+\S+\s+)?
    (?=(?:\S*/)?orchestrator\s)""",
    re.VERBOSE,
)
_COMMAND = re.compile(r"(?:^|\s)(?:\S*/)?orchestrator\s+(.*?)(?=\s{2,}(?:\S*/)?orchestrator\s|$)")
_SHELLS = ("", "sh", "bash", "console", "shell")


def documented_commands(doc: Path) -> list[tuple[str, str]]:
    """(where, the words after ``orchestrator``) for each command line in ``doc``."""
    found: list[tuple[str, str]] = []
    for block in code_blocks(doc):
        if block.language not in _SHELLS:
            continue
        text = block.text.replace("\\\n", " ")
        for line in text.splitlines():
            for command in re.split(r"&&|;", line.split(" #", 1)[0]):
                found += [(block.where, words) for words in _after_lead(command)]
    for where, span in inline_code(doc):
        found += [(where, words) for words in _after_lead(span)]
    return found


def _after_lead(command: str) -> list[str]:
    """The words after each ``orchestrator`` of a command that starts with one (after a lead)."""
    lead = _LEAD.match(command)
    return [] if lead is None else [words.strip() for words in _COMMAND.findall(command[lead.end() :])]


def _named(chain: list[click.Command]) -> str:
    return " ".join(["orchestrator", *(command.name or "" for command in chain[1:])])


def _options(chain: list[click.Command]) -> dict[str, click.Parameter]:
    return {opt: param for command in chain for param in command.params for opt in param.opts}


def _check(words: list[str], chain: list[click.Command]) -> str | None:
    """Walk ``words`` down from the last command of ``chain``; what is wrong, or None."""
    args = iter(words)
    for word in args:
        options = _options(chain)
        if word.startswith("-") and word not in ("-", "--"):
            option = options.get(word.split("=", 1)[0])
            if option is None:
                return f"{_named(chain)}: no option {word}"
            if isinstance(option, click.Option) and not option.is_flag and "=" not in word:
                next(args, None)
            continue
        current = chain[-1]
        takes_arguments = any(isinstance(param, click.Argument) for param in current.params)
        if isinstance(current, click.Group) and not takes_arguments:
            sub = current.commands.get(word)
            if sub is None:
                return f"{_named(chain)}: no command {word!r}"
            chain.append(sub)
    if isinstance(chain[-1], click.Group) and not chain[-1].invoke_without_command:
        return f"{_named(chain)}: a group, not a command"
    return None


def command_problems(doc: Path) -> list[str]:
    problems: list[str] = []
    for where, line in documented_commands(doc):
        alternatives = [part.replace("[", " ").replace("]", " ") for part in line.split(" | ")]
        first = shlex.split(alternatives[0], posix=True)
        chain: list[click.Command] = [cli]
        problem = _check(first, chain)
        if problem is None and len(alternatives) > 1:
            # ``status | engage --reason ...``: the others replace the command named first.
            parent = chain[:-1] if len(chain) > 1 else chain
            for alternative in alternatives[1:]:
                problem = problem or _check(shlex.split(alternative, posix=True), list(parent))
        if problem is not None:
            problems.append(f"{where}: orchestrator {line.strip()}: {problem}")
    return problems
