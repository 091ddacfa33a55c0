"""The wheel as a user gets it: built, installed into fresh venvs, run with no checkout.

One venv takes `prioscore[server]` and serves the bundled profiles (package data) from a
directory that holds nothing of the repository; another takes the plain client install,
which must score through that server while lacking the server's dependencies. pip reads
the registry (its cache makes reruns quick); the server binds 127.0.0.1:0 only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PORT_LINE = re.compile(r"prioscore serving on \S+ \(port (\d+)\)")

pytestmark = pytest.mark.slow

_CLIENT_SCRIPT = """
import importlib.util, sys
from prioscore.clients import PrioscoreClient, events
assert importlib.util.find_spec("sqlite_utils") is None, "client install pulled in the server"
assert importlib.util.find_spec("grpc_tools") is None, "grpcio-tools is a runtime dependency"
with PrioscoreClient(sys.argv[1], timeout=10) as client:
    client.ingest([
        events.identify("c-1", traits={"seniority": "vp"}, entity_kind="contact"),
        events.track("c-1", "page_view", properties={"url": "/pricing"}, entity_kind="contact"),
    ])
    [score] = client.score_entities("lead_qualification", ["c-1"])
    print("SCORE", score.entity_id, round(score.score, 3))
"""


def _run(*command: str | Path, cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRIOSCORE_", "PYTHON"))}
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, ROOT, cwd=out)
    [built] = out.glob("prioscore-*.whl")
    return built


def _venv(where: Path, requirement: str) -> Path:
    _run(sys.executable, "-m", "venv", where, cwd=where.parent)
    python = where / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", requirement, cwd=where.parent)
    return python


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[str]:
    """A server from the `[server]` install, run in an empty directory: its target."""
    home = tmp_path_factory.mktemp("server-home")
    python = _venv(home / "venv", f"{wheel}[server]")
    log_path = home / "server.log"
    command = [python, "-m", "prioscore.server", "--address", "127.0.0.1:0", "--db", "s.db"]
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (match := _PORT_LINE.search(log_path.read_text())):
            assert proc.poll() is None, f"server exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"server did not start:\n{log_path.read_text()}"
            time.sleep(0.1)
        yield f"127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_wheel_ships_the_bundled_profiles(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("prioscore/server/profiles/bundled/"))
    assert "prioscore/server/profiles/bundled/lead_qualification.toml" in shipped
    assert len([n for n in shipped if n.endswith(".toml")]) == 5


def test_client_only_install_scores_through_a_wheel_server(
    tmp_path_factory: pytest.TempPathFactory, wheel: Path, served: str
) -> None:
    home = tmp_path_factory.mktemp("client-home")
    python = _venv(home / "venv", str(wheel))
    out = _run(python, "-c", _CLIENT_SCRIPT, served, cwd=home)
    match = re.search(r"SCORE c-1 ([\d.]+)", out)
    assert match and float(match.group(1)) > 0, out
    help_text = _run(home / "venv" / "bin" / "prioscore", "--help", cwd=home)
    assert "rank" in help_text
