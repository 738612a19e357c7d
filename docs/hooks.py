"""MkDocs hooks: pages generated from the code, so they cannot drift from it.

* ``reference/contract.md``: every contract key, its type, default and description, read from
  the pydantic models in ``lakeloop.contracts`` (what loading a contract actually checks).
* ``<!-- import-graph -->`` on the architecture page: the package-level import graph, drawn
  from grimp's graph of the code (the same graph ``tests/unit/test_import_graph.py`` checks).
* ``<!-- settings-table -->`` on the operations page: every setting, its variable and default,
  from their one declaration in ``lakeloop/settings.py``.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from mkdocs.structure.files import File, Files

CONTRACT_PAGE = "reference/contract.md"
GRAPH_MARK = "<!-- import-graph -->"
SETTINGS_MARK = "<!-- settings-table -->"
PACKAGES = ("lakeloop", "assets", "resources", "pipelines")


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def _models(annotation: Any) -> list[type]:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _default(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if hasattr(value, "model_dump"):
        return "(section defaults)"
    return f"`{value!r}`"


def contract_reference() -> str:
    from lakeloop.contracts import Contract

    out = ["# Contract reference", "",
           "Generated from the contract model (`lakeloop.contracts`) when the docs are built: ",
           "every key a contract YAML takes. An unknown key is an error, named with its file.", ""]
    seen: set[type] = set()
    queue: list[type] = [Contract]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        out += [f"## `{model.__name__}`", ""]
        doc = (model.__doc__ or "").strip()
        if doc and not doc.startswith("!!!") and "BaseModel" not in doc:
            out += [" ".join(doc.split()), ""]
        out += ["| key | type | default | what |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            what = " ".join((field.description or "").split()).replace("|", "\\|")
            out.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} "
                       f"| {what} |")
            queue += _models(field.annotation)
        out.append("")
    return "\n".join(out)


def import_graph() -> str:
    """Packages as boxes, an arrow where one imports the other (modules folded into their
    package, two levels deep under ``lakeloop``)."""
    import grimp

    graph = grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)

    def package(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if parts[0] == "lakeloop" and len(parts) > 1 else parts[0]

    nodes = {package(m) for m in graph.modules if m.count(".") >= 1 or m in PACKAGES}
    nodes = {n for n in nodes if graph.find_children(n) or n.count(".") == 0
             or n in graph.modules}
    edges = set()
    for m in graph.modules:
        for d in graph.find_modules_directly_imported_by(m):
            a, b = package(m), package(d)
            if a != b and a in nodes and b in nodes and not (a == "lakeloop" or b == "lakeloop"):
                edges.add((a, b))
    ident = {n: n.replace(".", "_") for n in nodes}
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'  {ident[n]}["{n}"]' for n in sorted(nodes) if n != "lakeloop"]
    lines += [f"  {ident[a]} --> {ident[b]}" for a, b in sorted(edges)]
    lines.append("```")
    return "\n".join(lines)


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, CONTRACT_PAGE, content=contract_reference()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if GRAPH_MARK in markdown:
        markdown = markdown.replace(GRAPH_MARK, import_graph())
    if SETTINGS_MARK in markdown:
        from lakeloop.settings import settings_table

        markdown = markdown.replace(SETTINGS_MARK, settings_table())
    return markdown
