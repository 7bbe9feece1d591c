"""No import inside a function body, except an optional dependency's, with a comment saying so.

An import hidden in a function once held an import cycle together (issue 23); one that is needed
only on some paths (the guard's ``httpx``, ``redis`` and ``requests``, which the applications it
guards may not have installed) is the one exception, and says so where it stands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import orchestrator

PACKAGE = Path(orchestrator.__file__).parent


def function_imports(source: str) -> list[tuple[int, str]]:
    """(line, text) of each import inside a function body that is not marked ``# optional``."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom):
                text = lines[inner.lineno - 1].strip()
                if "# optional:" not in text:
                    found.append((inner.lineno, text))
    return found


def test_no_import_inside_a_function_but_an_optional_dependency() -> None:
    hidden = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, text in function_imports(path.read_text())
    ]
    assert hidden == [], "import at module level, or mark an optional dependency `# optional: why`"


def test_an_unmarked_import_in_a_function_is_found() -> None:
    source = "def f():\n    import json\n    import redis  # optional: not installed everywhere\n"
    assert function_imports(source) == [(2, "import json")]
