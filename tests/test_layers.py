"""The package layout keeps its promises: no import cycles between packages, and data flows one way
(sources -> store -> analysis -> render; the CLI on top). Read from the source with `ast`, lazy
imports inside functions and type-only imports included: a cycle hidden in a function is still one."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "openrlb_cli"
SOURCES = {"ingest", "fetch", "track", "dataset"}
# unit -> units it must never import
FORBIDDEN = {
    "analysis": "every other unit: pure functions on numpy arrays",
    "store": "anything but errors and model",
    **{s: {"render", "view", "cli", "aggregate", "rlops", "selection", "api"} for s in SOURCES},
    "render": {"ingest", "fetch", "track", "view", "cli", "api"},
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "openrlb_cli"


def _imports(path: Path, module: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            if name == "openrlb_cli":
                out.update(f"openrlb_cli.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("openrlb_cli.")}


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        src = _unit(module)
        for target in _imports(path, module):
            dst = _unit(target)
            if dst != src:
                edges.setdefault(src, set()).add(dst)
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read():
    edges = _graph()
    assert "store" in edges["cli"] and "render" in edges["view"] and "model" in edges["store"]


def test_no_import_cycle_between_packages():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_data_flows_one_way():
    edges = _graph()
    bad = []
    for unit, rule in FORBIDDEN.items():
        targets = edges.get(unit, set())
        if unit == "analysis":
            wrong = targets
        elif unit == "store":
            wrong = targets - {"errors", "model"}
        else:
            wrong = targets & set(rule)
        bad += [f"{unit} imports {t}" for t in sorted(wrong)]
    assert not bad, "; ".join(bad)


def test_only_the_cli_imports_the_cli():
    edges = _graph()
    assert sorted(u for u, ts in edges.items() if "cli" in ts) == ["__main__"]
