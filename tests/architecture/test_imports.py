"""The import graph has no cycle between modules.

`lint-imports` (pyproject's [tool.importlinter]) checks the layers and the cycles inside each
package; this test checks cycles between modules across packages, which it does not.
"""

from __future__ import annotations

import grimp


def module_cycles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_no_module_cycle() -> None:
    """The last cycle (26 modules at first, 3 in worker/ at the end: the Runtime built the Celery
    app, whose tasks read the installed Runtime back) is gone; a new one is a design error."""
    graph = grimp.build_graph("orchestrator", exclude_type_checking_imports=True)
    cycles = [sorted(cycle) for cycle in module_cycles(graph)]
    assert cycles == [], "an import cycle: break it (docs/architecture.md, Layers)"


def test_module_cycles_finds_a_cycle_of_two() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert module_cycles(graph) == [frozenset({"pkg.a", "pkg.b"})]
