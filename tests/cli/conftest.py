"""CLI fixtures: run `prioscore` in-process (click's CliRunner) or as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from prioscore.clients.cli import main
from tests.conftest import ServerHandle

VENV_BIN = Path(sys.executable).parent


@dataclass
class Cli:
    """`prioscore` bound to one server."""

    target: str

    def __call__(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = CliRunner().invoke(
            main,
            list(args),
            env={"PRIOSCORE_TARGET": self.target},
            catch_exceptions=False,
            input=input,
        )
        if ok:
            assert result.exit_code == 0, f"{args}: {result.output}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def process(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A real `python -m prioscore.clients.cli` process, bounded in time."""
        env = {**os.environ, "PRIOSCORE_TARGET": self.target}
        return subprocess.run(
            [sys.executable, "-m", "prioscore.clients.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def cli(grpc_server: ServerHandle) -> Cli:
    return Cli(grpc_server.target)


@pytest.fixture
def events_stored(grpc_server: ServerHandle) -> Callable[[], int]:
    """How many events the server's store holds (white-box: 'nothing was sent')."""
    return lambda: grpc_server.call(lambda: grpc_server.service.store.count_events())
