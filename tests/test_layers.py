"""The floor plan, checked from the source: which package may import which, no import cycle, and what stays in cli/.

Layers (STYLE.md): cli -> domains {embed, search, reduce, train, inspect} -> adapters {backends, formats} -> kernel
(the modules directly in embedcli/). A domain reaches another only through its package's `__init__`; backends and
formats never import each other nor a domain; the kernel imports only the kernel. Every import counts, module-level
or inside a function or `if TYPE_CHECKING:`, since each is a dependency. The cycle check follows the imports that run
(module level and inside functions: a cycle closed by a deferred import is still two modules that need each other)
but not those under `if TYPE_CHECKING:`, which only name types for the type checker.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "embedcli"
DOMAINS = ("embed", "search", "reduce", "train", "inspect")
ADAPTERS = ("backends", "formats")
# inspect is filed beside the re-organisation: it may not exist yet, but when it does it is a package like the others.
REQUIRED_PACKAGES = ("cli", "embed", "search", "reduce", "train", "backends", "formats")
MAX_KERNEL_MODULES = 8
# Libraries that speak to a terminal user: only the CLI takes them. Typer vendors Click; nobody imports it directly.
CLI_ONLY_LIBRARIES = ("typer", "click", "rich")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the embedcli module imported (a submodule when `from pkg import submodule`)
    line: int
    runs: bool  # executed at some point (not only under `if TYPE_CHECKING:`)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Each import statement anywhere in the module, and whether it ever runs (False under `if TYPE_CHECKING:`)."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(nodes: list[ast.stmt] | list[ast.AST], runs: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append((node, runs))
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, False)
                visit(node.orelse, runs)
            else:
                visit(list(ast.iter_child_nodes(node)), runs)

    visit(tree.body, True)
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> tuple[list[Import], list[tuple[str, int]]]:
    """The embedcli modules `name` imports, and every (top-level library, line) it imports from outside embedcli."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    internal: list[Import] = []
    external: list[tuple[str, int]] = []
    for node, runs in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from pkg import sub` imports the module pkg.sub; `from pkg import name` imports pkg.
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names]
        for target in targets:
            if target == "embedcli" or target.startswith("embedcli."):
                internal.append(Import(name, target, node.lineno, runs))
            else:
                external.append((target.partition(".")[0], node.lineno))
    return internal, external


@pytest.fixture(scope="module")
def graph() -> dict[str, tuple[list[Import], list[tuple[str, int]]]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer(module: str) -> tuple[str, str]:
    """(layer, unit): the unit is the package within a layer (a domain's or an adapter's name)."""
    parts = module.split(".")
    if len(parts) == 1 or module == "embedcli.__main__":
        return ("cli", "cli") if module == "embedcli.__main__" else ("kernel", "kernel")
    top = parts[1]
    if top == "cli":
        return "cli", "cli"
    if top in DOMAINS:
        return "domain", top
    if top in ADAPTERS:
        return "adapter", top
    if (PACKAGE / top).is_dir():
        return "unplaced", top
    return "kernel", "kernel"


def violation(source: str, target: str) -> str | None:
    """Why `source` may not import `target`, or None when the arrow is allowed."""
    (src_layer, src_unit), (dst_layer, dst_unit) = layer(source), layer(target)
    if "unplaced" in (src_layer, dst_layer):
        return "a package no layer names: add it to DOMAINS or ADAPTERS in tests/test_layers.py"
    if src_layer == "cli" or dst_layer == "kernel":
        return None
    if dst_layer == "cli":
        return "only the entry point imports the CLI"
    if src_layer == "kernel":
        return "the kernel imports only the kernel"
    if src_unit == dst_unit:
        return None
    if src_layer == "adapter":
        return f"{src_unit} imports only itself and the kernel, never {dst_layer} {dst_unit}"
    if dst_layer == "domain" and target != f"embedcli.{dst_unit}":
        return f"another domain is reached through its entry point: import from embedcli.{dst_unit}"
    return None


def test_every_import_follows_the_layers(graph: dict[str, tuple[list[Import], list[tuple[str, int]]]]) -> None:
    wrong = [
        f"{i.source}:{i.line} imports {i.target}: {why}"
        for internal, _ in graph.values()
        for i in internal
        if (why := violation(i.source, i.target))
    ]
    assert not wrong, "\n".join(wrong)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan; the graph is a few dozen modules, recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
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
            if len(component) > 1 or node in edges.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return cycles


def test_find_cycles_sees_a_cycle_and_nothing_else() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"a"}}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycle(graph: dict[str, tuple[list[Import], list[tuple[str, int]]]]) -> None:
    edges = {name: {i.target for i in internal if i.runs and i.target != name} for name, (internal, _) in graph.items()}
    cycles = find_cycles(edges)
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_layer_rules_catch_wrong_arrows() -> None:
    # A check that cannot fail checks nothing: each wrong arrow of STYLE.md must be named.
    assert violation("embedcli.search.queries", "embedcli.embed.queries") is not None
    assert violation("embedcli.search.queries", "embedcli.embed") is None
    assert violation("embedcli.formats.hits", "embedcli.backends.models") is not None
    assert violation("embedcli.backends.word_vectors", "embedcli.formats.word_vectors") is not None
    assert violation("embedcli.backends.base", "embedcli.embed") is not None
    assert violation("embedcli.metrics", "embedcli.formats") is not None
    assert violation("embedcli.train.run", "embedcli.cli.console") is not None
    assert violation("embedcli.train.run", "embedcli.formats.outputs") is None
    assert violation("embedcli.cli.similar", "embedcli.search.neighbours") is None
    assert violation("embedcli.records", "embedcli.errors") is None


def test_only_the_cli_speaks_to_the_terminal(graph: dict[str, tuple[list[Import], list[tuple[str, int]]]]) -> None:
    """Outside cli/: no typer, click or rich, no print, no writes to sys.stdout/sys.stderr, no exit."""
    wrong: list[str] = []
    for name, (_, external) in graph.items():
        if layer(name)[0] == "cli":
            continue
        wrong += [f"{name}:{line} imports {lib}" for lib, line in external if lib in CLI_ONLY_LIBRARIES]
        path = all_modules()[name]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called in ("print", "exit", "quit", "sys.exit", "sys.stdout.write", "sys.stderr.write"):
                    wrong.append(f"{name}:{node.lineno} calls {called}")
            elif isinstance(node, ast.Raise) and node.exc is not None:
                raised = ast.unparse(node.exc.func if isinstance(node.exc, ast.Call) else node.exc)
                if raised == "SystemExit":
                    wrong.append(f"{name}:{node.lineno} raises SystemExit")
    assert not wrong, "\n".join(wrong)


def test_every_folder_is_a_package_and_the_kernel_stays_small() -> None:
    for name in REQUIRED_PACKAGES:
        assert (PACKAGE / name / "__init__.py").is_file(), f"embedcli/{name}/ must be a package with an __init__.py"
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    namespace = sorted(str(f.relative_to(PACKAGE.parent)) for f in folders if not (f / "__init__.py").is_file())
    assert namespace == [], f"folders without __init__.py (its docstring says what the package owns): {namespace}"
    kernel = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(kernel) <= MAX_KERNEL_MODULES, f"{len(kernel)} modules directly in embedcli/: {kernel}"
