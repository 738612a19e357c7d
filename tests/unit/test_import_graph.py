"""The import graph: no circle anywhere, and the core stays below the Dagster wiring.

Built with grimp (the graph import-linter uses), which reads every import statement,
including those inside functions: a lazy import hides a circle from Python at start-up but
not from a reader, so it counts. Imports under ``if TYPE_CHECKING:`` are left out - they never
run and exist only for annotations.
"""

from __future__ import annotations

import grimp
import networkx as nx
import pytest

PACKAGES = ("lakeloop", "assets", "resources", "pipelines")
# the layers, top to bottom: a module may import its own layer and the ones below it
LAYERS = ("pipelines", "assets", "resources", "lakeloop")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)


def _digraph(graph: grimp.ImportGraph) -> nx.DiGraph:
    g = nx.DiGraph()
    for module in graph.modules:
        g.add_node(module)
        for imported in graph.find_modules_directly_imported_by(module):
            g.add_edge(module, imported)
    return g


def _explain(graph: grimp.ImportGraph, circle: list[str]) -> str:
    lines = []
    for a, b in zip(circle, [*circle[1:], circle[0]], strict=True):
        for detail in graph.get_import_details(importer=a, imported=b)[:1]:
            lines.append(f"  {a}:{detail['line_number']}  {detail['line_contents']}")
    return "\n".join(lines)


def test_no_import_circle_anywhere(graph: grimp.ImportGraph) -> None:
    circles = [sorted(c) for c in nx.strongly_connected_components(_digraph(graph)) if len(c) > 1]
    report = []
    for members in circles:
        cycle = nx.find_cycle(_digraph(graph).subgraph(members))
        report.append(_explain(graph, [a for a, _ in cycle]))
    assert not circles, "import circles:\n" + "\n\n".join(report)


def test_the_graph_sees_imports_inside_functions(graph: grimp.ImportGraph) -> None:
    """The check above is only as good as the graph: a known lazy import must be in it (the
    CLI imports the demo's Dagster runner only when ``lakeloop demo`` runs)."""
    assert "pipelines.demo" in graph.find_modules_directly_imported_by("lakeloop.app.cli")


@pytest.mark.parametrize("lower", LAYERS[1:])
def test_lower_layers_never_import_higher_ones(graph: grimp.ImportGraph, lower: str) -> None:
    """Dagster definitions import assets, assets import resources, all of them the core -
    never the other way (``lakeloop.app``, the command line, may launch the pipelines)."""
    higher = set(LAYERS[:LAYERS.index(lower)])
    offenders = sorted(
        f"{m} -> {d}" for m in {lower, *graph.find_descendants(lower)}
        if not m.startswith("lakeloop.app")
        for d in graph.find_modules_directly_imported_by(m) if d.split(".")[0] in higher)
    assert not offenders, "\n".join(offenders)


def test_the_core_imports_no_dagster() -> None:
    """``lakeloop`` is plain Python: only its ``app`` (the command line that launches runs)
    may reach Dagster."""
    graph = grimp.build_graph("lakeloop", "dagster", cache_dir=None,
                              exclude_type_checking_imports=True)
    offenders = sorted(
        f"{m} -> {d}" for m in graph.find_descendants("lakeloop")
        if not m.startswith("lakeloop.app")
        for d in graph.find_modules_directly_imported_by(m) if d.split(".")[0] == "dagster")
    assert not offenders, "\n".join(offenders)


def test_every_package_has_a_map() -> None:
    """Each package's ``__init__`` docstring names its modules: the map a newcomer reads."""
    import importlib
    import pkgutil

    import lakeloop

    missing = []
    for info in pkgutil.walk_packages(lakeloop.__path__, "lakeloop."):
        if not info.ispkg:
            continue
        package = importlib.import_module(info.name)
        doc = package.__doc__ or ""
        children = [m.name for m in pkgutil.iter_modules(package.__path__)]
        unnamed = [c for c in children if c not in doc]
        if unnamed:
            missing.append(f"{info.name}: {unnamed}")
    assert not missing, "modules missing from their package's docstring:\n" + "\n".join(missing)


def _package(module: str) -> str:
    """A module folded into its stage: ``lakeloop.ingest.bronze`` -> ``lakeloop.ingest``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "lakeloop" else parts[0]


def test_the_stages_form_no_circle_either(graph: grimp.ImportGraph) -> None:
    """Folded into packages (the boxes of the architecture page), the graph is still one-way:
    a stage never needs a stage that needs it, so each can be read - and tested - on top of
    the ones below it."""
    folded = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = _package(module), _package(imported)
            if a != b and "lakeloop" not in (a, b):
                folded.add_edge(a, b)
    circles = [sorted(c) for c in nx.strongly_connected_components(folded) if len(c) > 1]
    assert not circles, f"stages in a circle: {circles}"
