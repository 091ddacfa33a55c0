"""Interop and load from Node.js: a client built from the .proto files alone (grpc-js +
proto-loader) drives ScoreEntities and IngestEvents concurrently against the server.

The npm packages go into a cache directory outside the repository (PRIOSCORE_INTEROP_CACHE,
else ~/.cache/prioscore-interop), installed by this test on first use; without node/npm or
when the install fails (offline), the test skips and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.conftest import ROOT, ServerFactory

pytestmark = pytest.mark.slow

CLIENT = Path(__file__).resolve().parent / "interop" / "client.js"
PACKAGES = {"@grpc/grpc-js": "1.14.x", "@grpc/proto-loader": "0.8.x"}
CALLS, IN_FLIGHT = 2_000, 32
MAX_PEAK_RSS_MIB = 400  # the server idles near 100 MiB; a leak under load would blow past this


def _cache_dir() -> Path:
    configured = os.environ.get("PRIOSCORE_INTEROP_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prioscore-interop"


def _node_modules() -> Path:
    """node_modules with grpc-js and proto-loader, installing them once if needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node.js interop test")
    cache = _cache_dir()
    modules = cache / "node_modules"
    if all((modules / name / "package.json").exists() for name in PACKAGES):
        return modules
    cache.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", *specs],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install of @grpc/grpc-js timed out (offline?)")
    if done.returncode != 0 or not all((modules / n / "package.json").exists() for n in PACKAGES):
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        pytest.skip(f"npm install of {', '.join(specs)} failed: {' | '.join(tail)}")
    return modules


def test_node_client_drives_the_server_concurrently_without_errors(
    server_process: ServerFactory,
) -> None:
    modules = _node_modules()
    server = server_process()
    env = {**os.environ, "NODE_PATH": str(modules)}
    done = subprocess.run(
        ["node", str(CLIENT), server.target, str(ROOT / "protos"), str(CALLS), str(IN_FLIGHT)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr + server.log()[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    peak_mib = server.peak_rss_kib() / 1024
    print(
        f"\nnode interop: {result['calls']} calls, {IN_FLIGHT} in flight, "
        f"{result['rps']:.0f} RPS over {result['seconds']:.2f}s, "
        f"server peak RSS {peak_mib:.0f} MiB"
    )
    assert result["errors"] == 0, result["errorSamples"]
    assert result["calls"] == CALLS
    ingests = CALLS // 2
    assert result["accepted"] == ingests * 5  # every event new, counted once
    assert result["scored"] == (CALLS // 4) * 50 + (CALLS // 4)
    assert peak_mib < MAX_PEAK_RSS_MIB
    assert server.proc.poll() is None
