"""The shape of the library: it never imports the CLI, and the sync client mirrors the async one."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from prioscore.clients import AsyncPrioscoreClient, PrioscoreClient

CLIENTS = Path(__file__).resolve().parents[2] / "clients"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "prioscore.clients":  # from prioscore.clients import cli
                found.update(f"prioscore.clients.{alias.name}" for alias in node.names)
    return found


def test_the_library_never_imports_the_cli_or_the_dashboard() -> None:
    library = sorted(CLIENTS.glob("*.py"))  # clients/*.py, not clients/cli/ or dashboard/
    assert library, "clients/ has no modules"
    apps = ("prioscore.clients.cli", "prioscore.clients.dashboard")
    bad = [
        f"{path.name} imports {module}"
        for path in library
        for module in _imports(path)
        if module in apps or module.startswith(tuple(f"{app}." for app in apps))
    ]
    assert bad == []


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member, eval_str=True)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }


def test_the_sync_client_mirrors_the_async_methods_and_parameters() -> None:
    """Same names, kinds, defaults and (resolved) types: the sync wrapper spells each
    parameter out, so this is what keeps the two from drifting apart."""
    async_methods = _public_methods(AsyncPrioscoreClient)
    sync_methods = _public_methods(PrioscoreClient)
    assert sorted(sync_methods) == sorted(async_methods)
    for name, signature in async_methods.items():
        expected = [
            (p.name, p.kind, p.default, str(p.annotation)) for p in signature.parameters.values()
        ]
        got = [
            (p.name, p.kind, p.default, str(p.annotation))
            for p in sync_methods[name].parameters.values()
        ]
        assert got == expected, name
