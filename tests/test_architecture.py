"""The import direction of ARCHITECTURE.md, checked on the source (not on what runs)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server"
CLIENTS = ROOT / "clients"
GENERATED = ROOT / "protos" / "prioscore" / "v1"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "_pb2" not in p.name)


def offending(files: list[Path], allowed: tuple[str, ...]) -> list[str]:
    """Imports that are neither the standard library nor under one of `allowed`."""
    bad = []
    for path in files:
        for module in imports_of(path):
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and not module.startswith(allowed):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    return bad


def test_engine_imports_numpy_and_stdlib_only() -> None:
    files = python_files(SERVER / "engine")
    assert files, "server/engine has no modules"
    assert offending(files, ("numpy", "prioscore.server.engine")) == []


def test_nothing_below_rpc_imports_grpc_or_generated_code() -> None:
    files = [p for p in python_files(SERVER) if "rpc" not in p.relative_to(SERVER).parts]
    files = [p for p in files if p.name != "__main__.py"]  # the composition root wires rpc
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in imports_of(path)
        if module.startswith(("grpc", "google.protobuf", "google.rpc", "prioscore.v1"))
        or module.startswith("prioscore.server.rpc")
    ]
    assert bad == []


@pytest.mark.parametrize("module", ["store", "profile"])
def test_store_and_profile_do_not_reach_up(module: str) -> None:
    path = SERVER / f"{module}.py"
    if not path.exists():
        pytest.skip(f"server/{module}.py not present")
    bad = [
        m
        for m in imports_of(path)
        if m.startswith(
            ("prioscore.server.handlers.service", "prioscore.server.rpc", "opentelemetry.sdk")
        )
    ]
    assert bad == []


def test_only_telemetry_imports_the_opentelemetry_sdk() -> None:
    users = [
        str(p.relative_to(ROOT))
        for p in python_files(SERVER) + python_files(CLIENTS)
        if any(m.startswith("opentelemetry.sdk") for m in imports_of(p))
    ]
    assert users in ([], ["server/telemetry.py"])


def test_clients_never_import_the_server() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in python_files(CLIENTS)
        for m in imports_of(p)
        if m.startswith("prioscore.server")
    ]
    assert bad == []


def test_generated_code_imports_nothing_hand_written() -> None:
    generated = sorted(GENERATED.glob("*_pb2*.py"))
    bad = [
        f"{p.name} imports {m}"
        for p in generated
        for m in imports_of(p)
        if m.startswith("prioscore") and not m.startswith("prioscore.v1")
    ]
    assert bad == []


def test_the_lake_sits_on_scoring_and_never_on_the_store_or_the_service() -> None:
    """server/lake reads Parquet, not SQLite: it shares the scoring pipeline and the
    profile format, and needs no store, handler or transport; from the store's face it
    takes one value type (RelatedRows, what score signals read), never the Store."""
    files = python_files(SERVER / "lake")
    from_store = {
        alias.name
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "prioscore.server.store"
        for alias in node.names
    }
    assert from_store <= {"RelatedRows"}
    assert files, "server/lake has no modules"
    allowed = (
        "numpy",
        "pyarrow",
        "click",
        "distributed",
        "prioscore.server.engine",
        "prioscore.server.profiles",
        "prioscore.server.scoring",
        "prioscore.server.errors",
        "prioscore.server.lake",
        "prioscore.server.store",  # the face, for RelatedRows only (checked above)
    )
    assert offending(files, allowed) == []
