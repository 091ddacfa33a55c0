"""Bad settings stop the server at start with one line naming the flag (exit status 2), not
a traceback later, and never quietly weaken security (a client CA without a server
certificate would otherwise serve plaintext)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prioscore.server.config import load_settings
from tests.ops.conftest import ROOT


def _refused(argv: list[str], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(SystemExit) as stopped:
        load_settings(argv, environ or {})
    assert stopped.value.code == 2
    return str(stopped.value)


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--max-message-bytes", "lots"], {}, "--max-message-bytes: 'lots' is not a number"),
        ([], {"PRIOSCORE_GRACE_SECONDS": "soon"}, "PRIOSCORE_GRACE_SECONDS: 'soon'"),
        (["--max-stream-messages", "0"], {}, "--max-stream-messages must be positive"),
        (["--max-events-per-request", "-5"], {}, "--max-events-per-request must be positive"),
        (["--grace-seconds", "-1"], {}, "--grace-seconds must not be negative"),
        (["--tokens-file", "/nonexistent/tokens.toml"], {}, "--tokens-file: no such file"),
        (["--tls-cert", "/nonexistent.pem"], {}, "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "ca.pem"], {}, "--tls-client-ca (mutual TLS) needs --tls-cert"),
        (["--telemetry", "jaeger"], {}, "--telemetry must be none, console or otlp"),
    ],
)
def test_bad_settings_are_refused_naming_the_flag(
    argv: list[str],
    environ: dict[str, str],
    named: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _refused(argv, environ)
    assert named in capsys.readouterr().err


def test_missing_certificate_files_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    key = tmp_path / "server.key"
    key.write_text("not really a key")
    _refused(["--tls-cert", str(tmp_path / "absent.pem"), "--tls-key", str(key)])
    assert "--tls-cert: no such file" in capsys.readouterr().err


def test_good_settings_still_load(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\ntoken = "x"\nscopes = ["admin"]\n')
    settings = load_settings(
        ["--tokens-file", str(tokens), "--max-stream-messages", "10"],
        {"PRIOSCORE_GRACE_SECONDS": "2.5"},
    )
    assert settings.tokens_file == tokens
    assert settings.limits.max_stream_messages == 10
    assert settings.grace_seconds == 2.5


def test_the_server_process_exits_2_with_one_line(tmp_path: Path) -> None:
    flags = ["--db", str(tmp_path / "x.db"), "--address", "127.0.0.1:0"]
    done = subprocess.run(
        [sys.executable, "-m", "prioscore.server", *flags, "--max-message-bytes", "64k"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--max-message-bytes: '64k' is not a number" in done.stderr
