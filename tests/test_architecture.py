"""The package rules of docs/ARCHITECTURE.md, checked on the source (not on what runs).

Imports are read with ast at every depth (function-level and TYPE_CHECKING imports
count), so a rule cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server"
CLIENTS = ROOT / "clients"
GENERATED = ROOT / "protos" / "prioscore" / "v1"

FOUNDATION = {"__init__", "__main__", "audit", "clock", "config", "errors", "logs", "telemetry"}
# What each server package may import from the others (besides itself, the foundation
# modules, numpy and the standard library); the layers of docs/ARCHITECTURE.md.
LAYERS: dict[str, set[str]] = {
    "engine": set(),
    "profiles": {"engine"},
    "store": {"engine"},
    "scoring": {"engine", "profiles", "store"},
    "core": {"engine", "profiles", "store", "scoring"},
    "handlers": {"engine", "profiles", "store", "scoring", "core"},
    "lake": {"engine", "profiles", "scoring", "store"},  # store: value types only (below)
    "rpc": {"engine", "profiles", "store", "scoring", "core", "handlers"},
    "http": {"engine", "profiles", "store", "scoring", "core", "handlers"},
}
TRANSPORT = ("grpc", "google.protobuf", "google.rpc", "grpc_status", "prioscore.v1")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth; `from pkg import name` also counts
    `pkg.name` (it may be a module)."""
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


def module_name(path: Path) -> str:
    if path.is_relative_to(SERVER):
        base, rel = "prioscore.server", path.relative_to(SERVER)
    else:
        base, rel = "prioscore.clients", path.relative_to(CLIENTS)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([base, *parts])


def package_of(module: str) -> str:
    """The server package ("engine", "store", ...) of a prioscore.server module, or ""
    for a foundation module."""
    parts = module.split(".")
    return parts[2] if len(parts) > 3 or (len(parts) == 3 and parts[2] in LAYERS) else ""


def test_server_root_holds_only_the_foundation() -> None:
    modules = {p.stem for p in SERVER.glob("*.py")}
    assert modules <= FOUNDATION, sorted(modules - FOUNDATION)
    packages = {p.name for p in SERVER.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_engine_imports_numpy_and_stdlib_only() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in python_files(SERVER / "engine")
        for m in imports_of(p)
        if m.split(".")[0] not in sys.stdlib_module_names
        and not m.startswith(("numpy", "prioscore.server.engine"))
    ]
    assert bad == []


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_packages_import_only_downward(package: str) -> None:
    if not (SERVER / package).is_dir():
        pytest.skip(f"server/{package} not built")
    allowed = LAYERS[package] | {package}
    bad = []
    for path in python_files(SERVER / package):
        for m in imports_of(path):
            if not m.startswith("prioscore.server."):
                continue
            target = package_of(m)
            if target and target not in allowed:
                bad.append(f"{path.relative_to(ROOT)} imports {m}")
    assert bad == []


def test_only_rpc_and_the_composition_root_speak_grpc() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in python_files(SERVER)
        if p.relative_to(SERVER).parts[0] != "rpc" and p.name != "__main__.py"
        for m in imports_of(p)
        if m.startswith(TRANSPORT)
    ]
    assert bad == []


def test_only_http_speaks_http() -> None:
    frameworks = ("starlette", "uvicorn", "fastapi", "httpx", "http.server", "aiohttp")
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in python_files(SERVER)
        if p.relative_to(SERVER).parts[0] != "http" and p.name != "__main__.py"
        for m in imports_of(p)
        if m.startswith(frameworks)
    ]
    assert bad == []


def test_outsiders_use_package_faces() -> None:
    """A module outside a server package imports it as `prioscore.server.<package>`,
    never one of its modules: what a package exports is its __init__'s __all__."""
    bad = []
    for path in python_files(SERVER):
        own = package_of(module_name(path))
        for m in imports_of(path):
            parts = m.split(".")
            if m.startswith("prioscore.server.") and len(parts) > 3 and parts[2] != own:
                bad.append(f"{path.relative_to(ROOT)} imports {m}")
    assert bad == []


@pytest.mark.parametrize(
    "face", sorted(p for p in [*SERVER.glob("*/__init__.py"), CLIENTS / "__init__.py"])
)
def test_faces_have_a_sorted_all(face: Path) -> None:
    tree = ast.parse(face.read_text())
    names = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    ]
    assert names, f"{face.relative_to(ROOT)} has no __all__"
    listed = [ast.literal_eval(e) for e in names[0].elts]  # type: ignore[attr-defined]
    assert listed == sorted(listed, key=_isort_key), f"{face.relative_to(ROOT)}: unsorted"


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order (ruff RUF022): CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def _graph(files: Iterable[Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a `from pkg import name` edge goes to
    pkg.name when that is a module, else to pkg)."""
    files = list(files)
    known = {module_name(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        edges = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in known)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in known:
                        edges.add(full)
                    elif node.module in known:
                        edges.add(node.module)
        name = module_name(path)
        graph[name] = edges - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (as a path), or [] — a depth-first search with colours."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycle_in_the_server_or_the_clients() -> None:
    """Faces are left out: a package's __init__ importing its own modules is how a face
    works, and a module importing its sibling's face would show up as a cycle through
    the modules themselves anyway."""
    files = [p for p in python_files(SERVER) + python_files(CLIENTS) if p.name != "__init__.py"]
    assert _cycle(_graph(files)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


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
    bad = [
        f"{p.name} imports {m}"
        for p in sorted(GENERATED.glob("*_pb2*.py"))
        for m in imports_of(p)
        if m.startswith("prioscore") and not m.startswith("prioscore.v1")
    ]
    assert bad == []


def test_only_server_http_is_http_aware() -> None:
    """HTTP frameworks and the Prometheus client live in server/http (and, on the client
    side, in the dashboard, a web app of its own); nothing else uses them."""
    http_modules = ("prometheus_client", "starlette", "uvicorn", "prioscore.server.http")
    dashboard = CLIENTS / "dashboard"
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in python_files(SERVER) + python_files(CLIENTS)
        if "http" not in p.relative_to(SERVER if SERVER in p.parents else CLIENTS).parts
        and p != SERVER / "__main__.py"  # the composition root starts the endpoint
        and dashboard not in p.parents
        for m in imports_of(p)
        if m.startswith(http_modules)
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
    bad = [
        f"{path.relative_to(ROOT)} imports {m}"
        for path in files
        for m in imports_of(path)
        if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith(allowed)
    ]
    assert bad == []


def test_the_dashboard_never_imports_the_cli() -> None:
    """The dashboard is a client like the CLI, beside it: shared logic lives in the library."""
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in python_files(CLIENTS / "dashboard")
        for m in imports_of(p)
        if m == "prioscore.clients.cli" or m.startswith("prioscore.clients.cli.")
    ]
    assert python_files(CLIENTS / "dashboard") and bad == []
