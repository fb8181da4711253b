"""The layers of DESIGN.md, written down once as data, and kept.

Every import of the package's own modules is read from the source, wherever it stands (module
level or inside a function). The test fails on any import cycle, on any import that runs up the
layer list, on a module missing from the list, and on a function-local import of an internal
module that is not there to defer pandas or pyarrow (the only reason to import late).
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "parallel_analysis"

#: Bottom to top. A module may import modules of its own layer or of layers below it.
LAYERS = [
    ("leaves", ["errors", "cpus", "insights", "feedback", "replay", "tagging", "reduce", "board",
                "arena", "gil", "forks"]),
    ("low", ["pages", "segment_exit", "segment", "attached", "worker", "progress", "tracker",
             "arrow_dtypes"]),
    ("core", ["cuts", "split", "specs", "boundaries", "halos", "reducers", "reducers.*"]),
    ("share", ["share", "share.*", "parquet", "parquet_footers", "parquet_dictionaries",
               "parquet_nulls"]),
    ("backends", ["backends", "backends.*"]),
    ("plan", ["plan", "map"]),
    ("pipeline", ["pipeline", "auto", "auto_memory", "overlap"]),
    ("pool", ["pool", "maps"]),
    ("api", ["frames", "groupby_keys", "pandas", "exact", "exact.*", "shortcuts",
             "reduction_options", "info", "windows", "windows.*"]),
    ("faces", ["", "cli", "bench", "bench.*"]),
]

#: Third-party modules whose import cost justifies importing an internal module late.
HEAVY = ("pandas", "pyarrow")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    for rank, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatch(name, p) for p in patterns):
            return rank
    raise LookupError(name)


def _resolve(importer: str, is_package: bool, node: ast.AST, known: set[str]) -> list[str]:
    """Internal modules an import statement names (relative to ``importer``)."""
    if isinstance(node, ast.Import):
        return [a.name.removeprefix("parallel_analysis").lstrip(".") for a in node.names
                if a.name.split(".")[0] == "parallel_analysis"]
    if node.module and node.module.split(".")[0] == "parallel_analysis" and not node.level:
        base = node.module.removeprefix("parallel_analysis").lstrip(".")
    elif node.level:
        here = importer.split(".") if importer else []
        if not is_package:
            here = here[:-1]
        here = here[: len(here) - (node.level - 1)] if node.level > 1 else here
        base = ".".join(here + ([node.module] if node.module else []))
    else:
        return []
    names = [f"{base}.{a.name}".lstrip(".") for a in node.names]
    return [n for n in names if n in known] or [base]


def edges() -> list[tuple[str, str, bool]]:
    """(importer, imported, inside a function) for every internal import."""
    known = set(modules())
    out = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef,
                                                                   ast.AsyncFunctionDef))
                 for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(name, path.name == "__init__.py", node, known):
                    if target != name:
                        out.append((name, target, id(node) in local))
    return out


def imports_heavy_at_top(name: str) -> bool:
    tree = ast.parse(modules()[name].read_text())
    for node in tree.body:
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n.split(".")[0] in HEAVY for n in names):
            return True
    return False


def test_every_module_has_a_layer():
    missing = [name for name in modules() if not _has_layer(name)]
    assert not missing, f"add these modules to LAYERS: {missing}"


def _has_layer(name: str) -> bool:
    try:
        layer_of(name)
        return True
    except LookupError:
        return False


def test_imports_only_run_down_the_layers():
    up = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
          for a, b, _ in edges() if layer_of(b) > layer_of(a)]
    assert not up, "imports running up the layers:\n" + "\n".join(up)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for a, b, _ in edges():
        graph[a].add(b)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_function_local_internal_imports_only_defer_pandas_or_pyarrow():
    bad = [f"{a} imports {b} inside a function" for a, b, inside in edges()
           if inside and not imports_heavy_at_top(b)]
    assert not bad, ("import these at module level (late imports are for pandas/pyarrow "
                     "only):\n" + "\n".join(bad))


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


def test_the_checker_sees_function_local_and_relative_imports():
    found = {(a, b) for a, b, _ in edges()}
    assert ("share", "share.frames") in found  # inside share(): late, for pandas/pyarrow
    assert ("backends.process", "backends.crashes") in found  # `from . import crashes`
    assert ("share.handle", "attached") in found  # `from .. import attached`
    assert layer_of("segment") < layer_of("pool") < layer_of("")
