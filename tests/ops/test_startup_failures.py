"""Every start-up failure is one clear line on stderr and exit status 2, never a traceback:
a damaged, foreign, newer or read-only database, a bad TLS or tokens file, a port in use,
a bad log level, and an exposed address without protection."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prioscore.server.store import Store
from tests.ops.conftest import ROOT

pytestmark = pytest.mark.slow  # one interpreter start per case


def _start(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prioscore.server", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _refused(*flags: str) -> str:
    """The one line the server printed before exiting 2."""
    done = _start(*flags)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line and " WARNING " not in line]
    said = [line for line in lines if line.startswith(("prioscore:", "python -m prioscore"))]
    assert len(said) == 1, done.stderr  # argparse adds its usage lines before it
    assert lines[-1] == said[0], done.stderr
    return said[0]


def _db(path: Path) -> Path:
    with Store(path) as store:
        store.ensure_entities([f"e{i}" for i in range(2000)])
    return path


def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    db = _db(tmp_path / "damaged.db")
    raw = bytearray(db.read_bytes())
    page = 4096
    raw[3 * page : 6 * page] = b"\x5a" * (3 * page)  # b-tree pages, the header intact
    db.write_bytes(bytes(raw))
    line = _refused("--db", str(db), "--address", "127.0.0.1:0")
    assert "damaged" in line and str(db) in line


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(b"these are my notes, not a database\n" * 200)
    assert "not a prioscore database" in _refused("--db", str(db), "--address", "127.0.0.1:0")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = _db(tmp_path / "newer.db")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    assert "newer" in _refused("--db", str(db), "--address", "127.0.0.1:0")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs remounted read-only (as root, file modes do not stop writes)."""
    where = tmp_path / "ro"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)]).returncode:
        pytest.skip("cannot mount a tmpfs here, so no read-only file system to test on")
    try:
        _db(where / "prioscore.db")
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_read_only_database_is_refused(read_only_dir: Path) -> None:
    db = read_only_dir / "prioscore.db"
    line = _refused("--db", str(db), "--address", "127.0.0.1:0")
    assert str(db) in line and ("read-only" in line or "cannot be opened" in line)


def test_bad_security_files_are_one_line(tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "x.db"), "--address", "127.0.0.1:0"]
    garbage = tmp_path / "cert.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    line = _refused(*db, "--tls-cert", str(garbage), "--tls-key", str(garbage))
    assert "--tls-cert" in line
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\nname = "open"\ntoken = ""\nscopes = ["admin"]\n')
    assert "tokens[0].token: must not be empty" in _refused(*db, "--tokens-file", str(tokens))
    tokens.write_text("[[tokens]\n")
    assert str(tokens) in _refused(*db, "--tokens-file", str(tokens))


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        line = _refused("--db", str(tmp_path / "x.db"), "--address", address)
    assert address in line and "in use" in line


def test_a_bad_log_level_and_an_exposed_address_are_refused(tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "x.db")]
    assert "--log-level" in _refused(*db, "--address", "127.0.0.1:0", "--log-level", "LOUD")
    line = _refused(*db, "--address", "0.0.0.0:0")
    assert "--insecure" in line and "without TLS and tokens" in line
