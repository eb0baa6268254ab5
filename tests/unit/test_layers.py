"""The floors of docs/architecture.md, checked from the code's own imports (ast, not text):
no module imports from a floor above its own, and no two modules import each other,
directly or around a circle. Lazy imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "splitbrain"

#: package or module (dotted, under splitbrain) -> floor; the longest prefix wins
FLOORS = {
    "errors": 1, "verdict": 1, "retry": 1, "raft": 1, "nodekit": 1, "quorum": 1,
    "registry": 2, "history": 2,
    "clusters": 3, "checker": 3,
    "nemesis": 4, "workloads": 4, "reports": 4,
    "harness": 5,
    "cli": 6, "__main__": 7,
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def floor_of(mod: str) -> int | None:
    parts = mod.split(".")[1:]
    for n in range(len(parts), 0, -1):
        f = FLOORS.get(".".join(parts[:n]))
        if f is not None:
            return f
    return None if parts else 0


def imports(path: Path) -> set[str]:
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("splitbrain")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("splitbrain"):
                out.add(target)
                for a in node.names:   # `from pkg import module`
                    if (SRC.parent / (target.replace(".", "/") + f"/{a.name}.py")).exists():
                        out.add(f"{target}.{a.name}")
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in SRC.rglob("*.py")}


def test_every_module_has_a_floor() -> None:
    missing = sorted(m for m in graph() if floor_of(m) is None)
    assert not missing, f"add these to FLOORS and docs/architecture.md: {missing}"


def test_no_import_runs_up_a_floor() -> None:
    up = []
    for mod, deps in graph().items():
        for d in deps:
            fm, fd = floor_of(mod), floor_of(d)
            if fm is not None and fd is not None and fd > fm:
                up.append(f"{mod} (floor {fm}) imports {d} (floor {fd})")
    assert not up, "\n".join(sorted(up))


def test_raft_imports_nothing_else_of_ours() -> None:
    bad = sorted(f"{m} -> {d}" for m, deps in graph().items() if m.startswith("splitbrain.raft")
                 for d in deps if not d.startswith("splitbrain.raft"))
    assert not bad, bad


def test_quorum_node_imports_only_nodekit() -> None:
    """The quorum node runs with only the standard library and splitbrain.nodekit."""
    bad = sorted(f"{m} -> {d}" for m, deps in graph().items()
                 if m.startswith("splitbrain.quorum")
                 for d in deps if not d.startswith(("splitbrain.quorum", "splitbrain.nodekit"))
                 and d != "splitbrain")
    assert not bad, bad


def test_no_import_circle() -> None:
    g = graph()
    mods = set(g)

    def edges(m: str) -> set[str]:
        # an import of a package counts as an import of its __init__ module only
        return {d for d in g[m] if d in mods and d != m}

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:   # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for m in sorted(mods):
        if m not in index:
            visit(m)
    # a package's __init__ that re-exports its own submodules is not a circle of concepts
    real = [c for c in circles
            if not all(x.startswith(min(c, key=len)) for x in c)]
    assert not real, real
