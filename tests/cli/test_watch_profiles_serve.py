"""watch (a real CLI process), profiles, serve (exec and a real server process), help."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from prioscore.clients import PrioscoreClient
from prioscore.clients.cli import main
from prioscore.clients.cli import serve as cli_serve
from prioscore.server.profiles.loading import load_profile
from tests.cli.conftest import VENV_BIN, Cli
from tests.cli.test_ingest_and_scores import lead_csv
from tests.conftest import PROFILES, ServerHandle


def test_watch_process_prints_the_change_an_ingest_causes(
    cli: Cli, grpc_server: ServerHandle, tmp_path: Path
) -> None:
    env = {**os.environ, "PRIOSCORE_TARGET": grpc_server.target}
    command = [sys.executable, "-m", "prioscore.clients.cli", "watch", "--json"]
    watcher = subprocess.Popen(
        [*command, "--profile", "lead_qualification", "--tier", "hot", "--count", "1",
         "--timeout", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while grpc_server.call(lambda: grpc_server.service.hub.watcher_count) < 1:
            assert watcher.poll() is None, watcher.communicate()
            assert time.monotonic() < deadline, "watch never subscribed"
            time.sleep(0.05)
        cli("ingest", str(lead_csv(tmp_path / "leads.csv")))
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(timeout=10)
    assert watcher.returncode == 0, err
    [change] = [json.loads(line) for line in out.splitlines()]
    assert change["entity_id"] == "ann" and change["tier"] == "hot"
    assert change["previous_tier"] == "-" and change["cause"]
    assert "1 tier change" in err


def test_watch_timeout_ends_cleanly(cli: Cli) -> None:
    started = time.monotonic()
    result = cli("watch", "--timeout", "0.3")
    assert result.stdout.split()[0] == "CHANGE_ID"  # the header only: no change arrived
    assert len(result.stdout.splitlines()) == 1 and "0 tier changes" in result.stderr
    assert time.monotonic() - started < 15


def test_profiles_list_show_validate_reload(cli: Cli, tmp_path: Path) -> None:
    listed = cli.json("profiles", "list")
    assert [p["name"] for p in listed] == sorted(p.stem for p in PROFILES.glob("*.toml"))
    shown = cli("profiles", "show", "ticket_triage").stdout
    triage = load_profile(PROFILES / "ticket_triage.toml")
    p1 = f"P1 >= {triage.tiers.thresholds[-1]:g}"
    assert f"ticket_triage v{triage.version}" in shown and "sla_age" in shown and p1 in shown
    signals = cli.json("profiles", "show", "churn_risk")
    assert signals[0]["signal"] == "days_since_login" and signals[0]["missing"] == 90
    toml = cli("profiles", "show", "churn_risk", "--toml").stdout
    assert "[profile]" in toml and 'name = "churn_risk"' in toml and "[[signals]]" in toml

    good = PROFILES / "lead_qualification.toml"
    broken = tmp_path / "broken.toml"
    broken.write_text(good.read_text().replace('aggregate = "exists"', 'aggregate = "often"'))
    assert cli.json("profiles", "validate", str(good))[0]["valid"] is True
    result = cli("profiles", "validate", str(good), str(broken), ok=False)
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(broken))}:\d+: signals\[2\]\.aggregate", result.stderr)

    reloaded = cli.json("profiles", "reload")[0]
    assert reloaded["applied"] is True and "churn_risk" in reloaded["loaded"]


def test_serve_execs_the_server_with_the_flags(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(cli_serve, "exec_server", seen.append)
    cli("serve", "--db", "x.db", "--profiles", "p")
    cli("serve", "--", "--help")
    from click.testing import CliRunner

    CliRunner().invoke(main, ["--target", "127.0.0.1:6000", "serve", "--db", "y.db"])
    assert seen[0] == [sys.executable, "-m", "prioscore.server", "--db", "x.db", "--profiles", "p"]
    assert seen[1][-1] == "--help"
    assert seen[2][3:] == ["--address", "127.0.0.1:6000", "--db", "y.db"]


def test_console_script_serves_and_answers_end_to_end(tmp_path: Path) -> None:
    """`prioscore serve` in a real process (exec), then a real `prioscore` client process."""
    prioscore = VENV_BIN / "prioscore"
    if not prioscore.exists():
        pytest.skip("console script not installed in this environment")
    server = subprocess.Popen(
        [str(prioscore), "serve", "--address", "127.0.0.1:0", "--db", str(tmp_path / "s.db"),
         "--profiles", str(PROFILES), "--grace-seconds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            found = re.search(r"\(port (\d+)\)", line)
            port = found.group(1) if found else None
        assert port, "server did not report its port"
        target = f"127.0.0.1:{port}"
        env = {**os.environ, "PRIOSCORE_TARGET": target}
        listed = subprocess.run(
            [str(prioscore), "profiles", "list", "--json"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert "lead_qualification" in {p["name"] for p in json.loads(listed.stdout)}
        with PrioscoreClient(target, timeout=10) as api:  # the server outlives the client
            assert api.list_profiles()
    finally:
        server.send_signal(signal.SIGTERM)  # the exec'd server itself drains and exits
        assert server.wait(timeout=30) == 0


def test_module_entry_point_reports_errors_with_exit_status(cli: Cli) -> None:
    result = cli.process("score", "lead_qualification", "ghost")
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr and "ghost" in result.stderr


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "prioscore")
def test_every_command_has_help(cli: Cli, path: tuple[str, ...]) -> None:
    result = cli(*path, "--help")
    assert "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 4
