"""tasks_app's shape: no import cycle, and no module outside services writes a model."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tasks_app"

ALWAYS_WRITES = {"save", "asave", "delete", "adelete", "create", "acreate", "bulk_create", "abulk_create",
                 "bulk_update", "abulk_update", "get_or_create", "aget_or_create", "update_or_create",
                 "aupdate_or_create"}
QUERYSET_WRITES = {"update", "aupdate"}  # also dict.update, so only on a queryset or manager chain
QUERYSET_HINTS = {"objects", "filter", "exclude", "all", "select_related", "prefetch_related"}


def _chain(node: ast.expr) -> list[str]:
    names = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        else:
            return names


def model_writes(source: str) -> list[str]:
    """`receiver.method(` calls that write rows, by name (a heuristic that errs towards reporting)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, receiver = node.func.attr, _chain(node.func.value)
            if method in ALWAYS_WRITES or (method in QUERYSET_WRITES and QUERYSET_HINTS & set(receiver)):
                found.append(f"{node.lineno}: .{method}(")
    return found


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_write_scanner_catches_writes_and_spares_dicts():
    source = (
        "Task.objects.filter(pk=1).update(status='x')\nstep.save()\ntask.steps.create(order=1)\n"
        "out.update({'a': 1})\nArtifact.objects.all().delete()\n"
    )
    assert model_writes(source) == ["1: .update(", "2: .save(", "3: .create(", "5: .delete("]


def test_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_outside_services_writes_a_model():
    offenders = {}
    for path in APP.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[1] in ("services", "migrations"):
            continue
        if writes := model_writes(path.read_text()):
            offenders[str(relative)] = writes
    assert offenders == {}


def test_tasks_app_has_no_import_cycle():
    graph = grimp.build_graph("tasks_app", cache_dir=None)
    modules = graph.modules
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules} for m in modules}
    assert find_cycles(edges) == []
