"""The package shows the architecture: no import cycles between vaelab's modules (imports at
module level; an import inside a function is a deliberate late one), and nothing at the top
level but the package's entry, the error policy and the component modules named in configs."""

from __future__ import annotations

import ast
from pathlib import Path

import vaelab

SRC = Path(vaelab.__file__).parent
# Top-level modules allowed beside the packages: the error policy and the components whose
# `_target_` paths checkpoints store (vaelab.system.VAESystem, vaelab.plugins..., vaelab.lr_schedulers...).
TOP_LEVEL = {"__init__", "errors", "system", "plugins", "lr_schedulers"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """{module: the vaelab modules it imports at module level}."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import submodule` depends on the submodule; `from pkg import name`, on pkg.
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [s for s in subs if s in modules] or [node.module]
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def test_no_import_cycles():
    graph = imports()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_top_level_holds_only_packages_and_components():
    loose = {p.stem for p in SRC.glob("*.py")} - TOP_LEVEL
    assert not loose, f"modules at the top of vaelab outside a package: {sorted(loose)}"
