"""The CLI as a person meets it: 80-column terminals, options in any position, one clear
line per error (JSON on stdout with --json), watch refusing typos, erase and init."""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from prioscore.clients import PrioscoreClient, events
from prioscore.clients.cli import main
from tests.cli.conftest import Cli
from tests.conftest import ServerHandle


def _ingest(target: str, contacts: int = 6) -> None:
    batch = []
    for i in range(contacts):
        entity = f"contact-{i:04d}"
        batch.append(events.identify(entity, traits={"seniority": "vp"}, entity_kind="contact"))
        for url in ("/pricing", "/demo", "/contact-sales", "/docs/api", "/blog/x"):
            batch.append(events.track(entity, "page_view", properties={"url": url}))
    with PrioscoreClient(target, timeout=10) as client:
        client.ingest(batch)


def _in_terminal(args: list[str], target: str, columns: int = 80) -> str:
    """Runs `prioscore ARGS` on a pseudo-terminal of `columns` columns; its screen text."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PRIOSCORE_TARGET"] = target
    proc = subprocess.Popen(
        [sys.executable, "-m", "prioscore.clients.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        proc.wait(timeout=30)
        os.close(leader)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_rank_fits_an_80_column_terminal(grpc_server: ServerHandle) -> None:
    _ingest(grpc_server.target)
    screen = _in_terminal(["rank", "lead_qualification", "--reasons", "5"], grpc_server.target)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].split()[:4] == ["RANK", "ENTITY_ID", "SCORE", "TIER"], screen
    assert max(len(line) for line in lines) <= 80, screen
    # Every entity starts its own row; the reasons fold inside their own column.
    rows = [line.split() for line in lines[2:-1]]
    starts = [row[1] for row in rows if row[0].isdigit()]
    assert starts == [f"contact-{i:04d}" for i in range(6)], screen
    reasons_at = lines[0].index("REASONS")
    folded = [line for line, row in zip(lines[2:-1], rows, strict=True) if not row[0].isdigit()]
    assert folded and all(line[:reasons_at].strip() == "" for line in folded), screen


def test_global_options_after_the_subcommand(cli: Cli, grpc_server: ServerHandle) -> None:
    _ingest(grpc_server.target, contacts=2)
    rows = json.loads(cli("rank", "lead_qualification", "--json", "--timeout", "5").stdout)
    assert len(rows) == 2
    rows = json.loads(
        cli("rank", "lead_qualification", f"--target={grpc_server.target}", "--json").stdout
    )
    assert len(rows) == 2


def test_no_server_gives_one_line_with_a_hint(tmp_path: Path) -> None:
    from click.testing import CliRunner

    target = "127.0.0.1:9"  # discard port: nothing listens there
    result = CliRunner().invoke(main, ["--target", target, "--timeout", "2", "rank", "x"])
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: no prioscore server answering at {target}")
    assert "prioscore serve" in line
    as_json = CliRunner().invoke(
        main, ["rank", "x", "--json", "--target", target, "--timeout", "2"]
    )
    assert as_json.exit_code == 1
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "UNAVAILABLE"
    assert "prioscore serve" in error["message"]


def test_unknown_profile_lists_the_loaded_ones(cli: Cli) -> None:
    result = cli("rank", "lead_qualificaton", ok=False)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert "'lead_qualificaton' not found" in line
    assert "loaded: account_engagement, churn_risk, lead_qualification" in line
    error = json.loads(cli("rank", "nope", "--json", ok=False).stdout)["error"]
    assert error["code"] == "NOT_FOUND" and error["reason"] == "PROFILE_NOT_FOUND"


def test_watch_refuses_unknown_tiers_and_prints_a_header(cli: Cli) -> None:
    refused = cli("watch", "--tier", "hott", ok=False)
    assert refused.exit_code == 2
    assert "unknown tier 'hott'" in refused.stderr and "hot" in refused.stderr
    wrong_profile = cli("watch", "--profile", "nope", ok=False)
    assert wrong_profile.exit_code == 2 and "loaded: " in wrong_profile.stderr
    done = cli("watch", "--profile", "lead_qualification", "--tier", "hot", "--timeout", "0.2")
    assert done.stdout.split()[:3] == ["CHANGE_ID", "TIME", "PROFILE"]
    assert "watching tier changes of profile lead_qualification, into hot" in done.stderr


def test_erase_removes_the_entity(cli: Cli, grpc_server: ServerHandle) -> None:
    _ingest(grpc_server.target, contacts=1)
    refused = cli("erase", "contact-0000", input="n\n", ok=False)
    assert refused.exit_code == 1  # declined: nothing erased
    [record] = cli.json("erase", "contact-0000", "--yes")
    assert record["events_removed"] == 6
    [again] = cli.json("erase", "contact-0000", "--yes")
    assert again["events_removed"] == 0


def test_init_copies_the_bundled_profiles_once(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "my-profiles"
    copied = cli("init", str(target)).stdout
    assert (target / "lead_qualification.toml").is_file()
    assert f"--profiles {target}" in copied
    again = cli("init", str(target), ok=False)
    assert again.exit_code == 1
    [line] = again.stderr.strip().splitlines()
    assert "already exists; nothing copied" in line
