"""The core's import graph: no circles, and each layer imports only the layers below it.

The graph is read from the source with :mod:`ast`, not by importing. It counts every ``import``
and ``from ... import`` statement that runs: at module level AND inside functions and methods
(a lazy import inside a function is still a dependency, it only runs later). It leaves out the
imports under ``if TYPE_CHECKING:`` (they never run) and names built at run time
(``importlib.import_module``, the plugin registry's ``"module:Class"`` references), which is
how the package's ``__getattr__`` and the plugin manager reach upwards on purpose.
``from calogeo.x import y`` counts as an import of ``calogeo.x.y`` when that is a module, else
of ``calogeo.x``.

The layers are those of "Layers of the code" in DESIGN.md; a new module must be placed in one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "calogeo"

# Lowest first. A module may import modules of its own layer or of layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "calogeo.errors",
            "calogeo._version",
            "calogeo._jit",
            "calogeo.device",
            "calogeo.presets",
            "calogeo.hookspecs",
            "calogeo.interrupts",
            "calogeo.memory",
            "calogeo.outputs",
            "calogeo._table",
        ),
    ),
    ("materials", ("calogeo.materials", "calogeo._pdg_elements")),
    (
        "geometry, spec, layouts",
        (
            "calogeo.layout",
            "calogeo.clip",
            "calogeo._spec_text",
            "calogeo.geometry",
            "calogeo.spec",
            "calogeo.checks",
        ),
    ),
    ("plugin registry", ("calogeo.plugins", "calogeo.registry")),
    (
        "showers",
        (
            "calogeo.showers",
            "calogeo.sparse",
            "calogeo.energy_scale",
            "calogeo.particles",
            "calogeo.incident",
        ),
    ),
    ("native files", ("calogeo.native",)),
    ("multi-file datasets", ("calogeo.dataset",)),
    ("io, formats", ("calogeo.io", "calogeo.formats", "calogeo.streams", "calogeo.hits")),
    (
        "views, observables, resampler",
        (
            "calogeo.resample",
            "calogeo.voxelize",
            "calogeo.views",
            "calogeo.observables",
            "calogeo.symmetry",
            "calogeo.binning",
            "calogeo.predictions",
        ),
    ),
    (
        "models, trainers, metrics",
        (
            "calogeo.model",
            "calogeo.checkpoint",
            "calogeo.reconstruction",
            "calogeo.ddp",
            "calogeo.training",
            "calogeo.trainer",
            "calogeo.response_map",
            "calogeo.generative",
            "calogeo.adversarial",
            "calogeo.metric",
        ),
    ),
    ("plotting", ("calogeo.plotting", "calogeo.plotting_validation")),
    ("studies and distributed commands", ("calogeo.study", "calogeo.distributed")),
    (
        "CLI and the public facade",
        ("calogeo.cli", "calogeo.__main__", "calogeo.scaffold", "calogeo.testing", "calogeo"),
    ),
]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(root: Path = CORE) -> dict[str, set[str]]:
    """module -> the core modules it imports at run time (module level and in functions)."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a cycle path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(_cycle_through(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One closed path a -> b -> ... -> a inside a strongly connected component."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        v = frontier.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if w not in previous:
                previous[w] = v
                frontier.append(w)
    return sorted(component)  # unreachable for a real component


def layer_of(module: str) -> int:
    """Index in LAYERS of the layer holding ``module`` (-1: none); a subpackage's entry
    (``calogeo.cli``) covers its modules, the top package ``calogeo`` only itself."""
    for rank, (_, names) in enumerate(LAYERS):
        for name in names:
            if module == name or (name != "calogeo" and module.startswith(name + ".")):
                return rank
    return -1


GRAPH = import_graph()


def test_the_core_has_no_import_cycle():
    cycles = import_cycles(GRAPH)
    assert not cycles, "import cycles in calogeo/: " + "; ".join(" -> ".join(c) for c in cycles)


def test_every_core_module_has_a_layer():
    unplaced = sorted(m for m in GRAPH if layer_of(m) < 0)
    assert not unplaced, f"place these modules in a layer of LAYERS: {unplaced}"


def test_each_layer_imports_only_layers_below():
    upward = [
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
        for a, targets in sorted(GRAPH.items())
        for b in sorted(targets)
        if layer_of(a) >= 0 and layer_of(a) < layer_of(b)
    ]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def _write(root: Path, name: str, text: str) -> None:
    path = root.joinpath(*name.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("a_text", "cyclic"),
    [
        ("from calogeo.b import f\n", True),  # module level
        ("def g():\n    from calogeo.b import f\n", True),  # inside a function
        ("from calogeo import b\n", True),  # a submodule through its package
        ("from . import b\n", True),  # relative
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from calogeo.b import f\n",
            False,
        ),
        ("import importlib\nB = importlib.import_module('calogeo.b')\n", False),
    ],
)
def test_the_graph_sees_module_and_function_level_imports(tmp_path, a_text, cyclic):
    root = tmp_path / "calogeo"
    _write(tmp_path, "calogeo.__init__", "")
    _write(tmp_path, "calogeo.a", a_text)
    _write(tmp_path, "calogeo.b", "def f():\n    from calogeo.a import g\n")
    cycles = import_cycles(import_graph(root))
    assert cycles == ([["calogeo.a", "calogeo.b", "calogeo.a"]] if cyclic else [])
