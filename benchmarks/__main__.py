"""Run every benchmark module in ``benchmarks/`` and rewrite ``docs/benchmarks.md`` with the figures.

    .venv/bin/python -m benchmarks [--quick] [--include [SECTION=]FILE.jsonl] [NAMES...]

NAMES are module names (``revocation``, ``intake``) or ``module:part`` (``revocation:switch``).
A module takes part in one of two ways: it defines ``run(quick: bool) -> list[Figure]``
(``benchmarks.common.Figure``), or it is a script run as ``python benchmarks/NAME.py`` whose
stdout is JSON: figure objects (``name, value, unit, goal, met, command``) one a line, or any
JSON documents, which are flattened into figures without a goal. ``--include [SECTION=]FILE``
adds figures measured earlier by another command (JSON lines of figures, e.g. the long 1M run
started on its own with ``python -m benchmarks.revocation million > FILE``); with no NAMES,
``--include`` only merges (nothing is run).
Sections of modules not run this time are carried over from the previous document unchanged.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Figure, machine, now_utc

__all__ = ["main", "render", "run_module"]

HERE = Path(__file__).resolve().parent
DOC = ROOT / "docs" / "benchmarks.md"
# Helpers, then parts of another module (revocation's), neither run on its own.
SKIP = {"__init__", "__main__", "common", "loadgen", "tiktok"} | {
    "revocation_concurrent", "revocation_switch", "revocation_up"}  # fmt: skip
_NOTES: dict[str, str] = {}  # module -> how its figures were measured (its NOTES), for the doc
_STATE = re.compile(r"<!-- benchmark-state (.*?) -->", re.S)


def modules() -> list[str]:
    """Benchmark modules in this folder, by name."""
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem not in SKIP)


def _has_run(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body)


def _flatten(prefix: str, value: Any, command: str) -> list[Figure]:
    if isinstance(value, dict):
        return [
            f for k, v in value.items() for f in _flatten(f"{prefix}.{k}" if prefix else str(k), v, command)
        ]
    if isinstance(value, list) and not all(isinstance(v, int | float | str) for v in value):
        return [f for i, v in enumerate(value) for f in _flatten(f"{prefix}[{i}]", v, command)]
    shown = value if isinstance(value, int | float | str) else json.dumps(value)
    return [Figure(prefix, shown, "", "", None, command)]


def parse_output(stdout: str, command: str) -> list[Figure]:
    """Figures from a script's stdout: figure objects as they are, other JSON flattened."""
    decoder, figures, at = json.JSONDecoder(), [], 0
    while at < len(stdout):
        if stdout[at].isspace():
            at += 1
            continue
        try:
            document, at = decoder.raw_decode(stdout, at)
        except ValueError:  # a line of plain text: skip it
            at = stdout.find("\n", at) + 1 or len(stdout)
            continue
        if isinstance(document, dict) and {"name", "value", "goal"} <= document.keys():
            figures.append(Figure.from_dict({"command": command, **document}))
        else:
            label = document.get("setup", "") if isinstance(document, dict) else ""
            figures += _flatten(str(label), document, command)
    return figures


def run_module(name: str, *, quick: bool, parts: list[str]) -> tuple[list[Figure], str]:
    """Run one module; its figures and the command that reproduces them."""
    path = HERE / f"{name}.py"
    if _has_run(path):
        module = importlib.import_module(f"benchmarks.{name}")
        accepts_names = "names" in inspect.signature(module.run).parameters
        figures = module.run(quick, parts or None) if accepts_names else module.run(quick)
        notes = getattr(module, "NOTES", {})
        _NOTES[name] = " ".join(notes[p] for p in (parts or list(notes)) if p in notes)
        targets = " ".join(f"{name}:{p}" for p in parts) or name
        return list(figures), f".venv/bin/python -m benchmarks {'--quick ' if quick else ''}{targets}"
    args = [sys.executable, str(path.relative_to(ROOT))]
    if quick and "--quick" in path.read_text(encoding="utf-8"):
        args.append("--quick")
    command = shlex.join([".venv/bin/python", *args[1:]])
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr[-4000:])
    figures = parse_output(done.stdout, command)
    if done.returncode != 0:
        figures.append(Figure("exit status", done.returncode, "", "0", False, command))
    return figures, command


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _commit() -> str:
    """The commit the figures were measured on, ``+changes`` when the work tree differed from it
    (this document aside: every run rewrites it, so the second section run in a row was stamped
    ``+changes`` for the first one's figures)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    status = ["git", "status", "--porcelain", "--", ".", f":(exclude){DOC.relative_to(ROOT)}"]
    dirty = subprocess.run(status, cwd=ROOT, capture_output=True, text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def _section(name: str, state: dict[str, Any]) -> str:
    at = f" on commit {state['commit']}" if state.get("commit") else ""
    lines = [f"## {name}", "", f"Measured {state['date']}{at} with `{state['command']}`.", ""]
    if state.get("notes"):
        lines += [str(state["notes"]), ""]
    lines += ["| figure | value | goal | met |", "|---|---|---|---|"]
    commands: list[str] = []
    for data in state["figures"]:
        figure = Figure.from_dict(data)
        met = {True: "yes", False: "**no**", None: ""}[figure.met]
        lines.append(f"| {_cell(figure.name)} | {_cell(figure.value)} {_cell(figure.unit)} "
                     f"| {_cell(figure.goal)} | {met} |")  # fmt: skip
        if figure.command and figure.command not in commands:
            commands.append(figure.command)
    lines += ["", "Commands:", "", *[f"    {c}" for c in commands], ""]
    return "\n".join(lines)


def render(sections: dict[str, dict[str, Any]], command: str) -> str:
    """The whole document: machine, date, command, then one section per module."""
    box = machine()
    head = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks`; do not edit by hand. Speeds are ratios to a baseline",
        "measured in the same run, because the machine is shared and noisy.",
        "",
        f"- Last run: {now_utc()} with `{command}`",
        f"- Machine: {box['nproc']} CPUs, {box['memory']} memory, Python {box['python']}, {box['os']};"
        f" load average at the end {box['load_average']}",
        "",
    ]
    body = [_section(name, sections[name]) for name in sorted(sections)]
    state = json.dumps(sections, indent=None, sort_keys=True).replace("--", "\\u002d\\u002d")
    return "\n".join([*head, *body, f"<!-- benchmark-state {state} -->", ""])


def previous_sections() -> dict[str, dict[str, Any]]:
    """Sections kept in the current document (so a partial run keeps the others)."""
    if not DOC.exists():
        return {}
    found = _STATE.search(DOC.read_text(encoding="utf-8"))
    return dict(json.loads(found.group(1))) if found else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look")
    parser.add_argument(
        "--include", action="append", default=[], help="[SECTION=]FILE: figures measured earlier (JSON lines)"
    )
    parser.add_argument("names", nargs="*", help=f"modules to run (default all: {', '.join(modules())})")
    args = parser.parse_args(argv)
    command = shlex.join(
        [".venv/bin/python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])]
    )
    wanted: dict[str, list[str]] = {}
    for name in args.names or ([] if args.include else modules()):  # --include alone: merge only
        module, _, part = name.partition(":")
        if module not in modules():
            parser.error(f"no benchmark module {module!r}; known: {', '.join(modules())}")
        wanted.setdefault(module, []).extend([part] if part else [])
    sections = previous_sections()
    for module, parts in wanted.items():
        if not parts:  # the whole module replaces its earlier parts
            sections = {k: v for k, v in sections.items() if not k.startswith(f"{module}:")}
        for part in parts or [""]:
            key = f"{module}:{part}" if part else module
            started = time.monotonic()
            figures, how = run_module(module, quick=args.quick, parts=[part] if part else [])
            print(f"{key}: {len(figures)} figures in {time.monotonic() - started:.0f} s", file=sys.stderr)
            sections[key] = {"date": now_utc(), "commit": _commit(), "command": how,
                             "figures": [vars(f) for f in figures],
                             "notes": _NOTES.get(module, "")}  # fmt: skip
    for spec in args.include:  # FILE or SECTION=FILE
        key, _, name = spec.rpartition("=")
        path = Path(name)
        figures = parse_output(path.read_text(encoding="utf-8"), f"(included from {path.name})")
        key = key or f"{path.stem} (included)"
        how = figures[0].command if figures else ""
        sections[key] = {"date": f"before {now_utc()} (included)", "command": how,
                         "figures": [vars(f) for f in figures]}  # fmt: skip
    for key, section in sections.items():  # notes for sections kept from an earlier run
        module, _, part = key.partition(":")
        if not section.get("notes") and part and module in modules() and _has_run(HERE / f"{module}.py"):
            section["notes"] = getattr(importlib.import_module(f"benchmarks.{module}"), "NOTES", {}).get(
                part, ""
            )
    DOC.write_text(render(sections, command), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
