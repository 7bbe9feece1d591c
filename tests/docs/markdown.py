"""The parts of the project's Markdown a reader copies: fenced code blocks, tables, inline code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DOCS", "Block", "Table", "code_blocks", "inline_code", "tables"]

PROJECT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [
        PROJECT / "README.md",
        PROJECT / "CHANGELOG.md",
        PROJECT / "docker/README.md",
        *(PROJECT / "docs").rglob("*.md"),
    ]
)
_FENCE = re.compile(r"^\s*```(.*)$")
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string (``yaml``, ``sh falcosidekick``), text and origin."""

    where: str
    info: str
    text: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info else ""


@dataclass(frozen=True)
class Table:
    """A pipe table: the header cells and each row's cells."""

    where: str
    header: list[str]
    rows: list[list[str]]


def _name(path: Path) -> str:
    return str(path.relative_to(PROJECT)) if path.is_relative_to(PROJECT) else path.name


def _prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The lines outside fenced blocks, numbered from 1."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield number, line


def code_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    body: list[str]
    info: str | None = None
    start, body = 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = _FENCE.match(line)
        if fence and info is None:
            info, start, body = fence.group(1).strip(), number, []
        elif fence and info is not None:
            blocks.append(Block(f"{_name(path)}:{start}", info, "\n".join(body) + "\n"))
            info = None
        elif info is not None:
            body.append(line)
    return blocks


def tables(path: Path) -> list[Table]:
    found: list[Table] = []
    rows: list[tuple[int, str]] = []
    for number, line in [*_prose_lines(path), (0, "")]:
        if line.lstrip().startswith("|"):
            rows.append((number, line.strip().strip("|")))
            continue
        if len(rows) >= 2 and set(rows[1][1]) <= set("-:| "):
            header, *body = [[cell.strip() for cell in row.split(" | ")] for _, row in [rows[0], *rows[2:]]]
            found.append(Table(f"{_name(path)}:{rows[0][0]}", header, body))
        rows = []
    return found


def inline_code(path: Path) -> list[tuple[str, str]]:
    """Every inline code span outside fenced blocks, with where it is."""
    return [
        (f"{_name(path)}:{number}", span)
        for number, line in _prose_lines(path)
        for span in _INLINE.findall(line)
    ]
