"""What every CLI command shares: connection settings, the client, error reporting.

The client is created lazily (so `--help` and `serve` never open a channel) and closed
when the command ends. Failures are reported in one place: the server's status code,
its message and each field violation on stderr, exit status 1; bad input files name the
file, line and field. Usage errors stay click's (exit status 2).
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import click

from prioscore.clients.channel import tls_credentials
from prioscore.clients.cli.errorreport import fail, fail_json, report_client_error
from prioscore.clients.cli.globalopts import hoist_global_options
from prioscore.clients.cli.inputerrors import InputFileError
from prioscore.clients.errors import PrioscoreClientError
from prioscore.clients.sync import PrioscoreClient
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2


@dataclass
class Settings:
    """Connection settings from the group's options (flags or PRIOSCORE_* variables)."""

    target: str
    token: str | None
    timeout: float
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    target_given: bool = False
    _client: PrioscoreClient | None = field(default=None, repr=False)

    def client(self) -> PrioscoreClient:
        if self._client is None:
            credentials = None
            if self.ca_cert or self.client_cert:
                credentials = tls_credentials(self.ca_cert, self.client_cert, self.client_key)
            self._client = PrioscoreClient(
                self.target, credentials=credentials, token=self.token, timeout=self.timeout
            )
            click.get_current_context().call_on_close(self.close)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def settings() -> Settings:
    return click.get_current_context().find_object(Settings)  # type: ignore[return-value]


def client() -> PrioscoreClient:
    return settings().client()


_WANTS_JSON = "prioscore.wants_json"


class ReportingGroup(click.Group):
    """A click group that takes its options anywhere and turns client and input-file
    errors into one clear message and exit status 1 (a JSON object on stdout with --json)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Whether the command asked for JSON, read from the whole command line before
        # click splits it (click deprecates ctx.protected_args, which held the rest).
        ctx.meta[_WANTS_JSON] = "--json" in args
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def invoke(self, ctx: click.Context) -> Any:
        as_json = bool(ctx.meta.get(_WANTS_JSON))
        try:
            return super().invoke(ctx)
        except PrioscoreClientError as error:
            report_client_error(error, settings().target, as_json)
        except InputFileError as error:
            lines = error.describe()
            if as_json:
                fail_json({"code": "INVALID_INPUT", "message": lines[0], "details": lines[1:]})
            fail([f"error: {lines[0]}", *lines[1:], "nothing was sent or written"])
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(130) from None


class ProgressLine:
    """Progress on stderr: one line redrawn in place on a terminal, whole lines otherwise.

    Each redraw clears the line first (ESC[2K) and is cut to the terminal width, so a
    shorter text never leaves the tail of a longer one behind and nothing wraps.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def show(self, text: str, final: bool = False) -> None:
        if self.stream.isatty():
            width = shutil.get_terminal_size().columns
            self.stream.write("\r\x1b[2K" + text[: max(width - 1, 1)] + ("\n" if final else ""))
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()


def progress_line(text: str, final: bool = False) -> None:
    ProgressLine().show(text, final)


def reasons_text(
    score: types_pb2.Score | scoring_pb.ScoreHistoryPoint, limit: int = 3
) -> list[str]:
    """Top reasons as short strings: "demo_request +25.0", fit rules marked "fit:"."""
    out = []
    for reason in list(score.top_reasons)[:limit]:
        prefix = "fit:" if reason.kind == types_pb2.CONTRIBUTION_KIND_FIT else ""
        out.append(f"{prefix}{reason.name} {reason.points:+.1f}")
    return out


def contribution_record(c: types_pb2.Contribution) -> dict[str, Any]:
    """A reason or contribution as structured fields (JSON output): what a script reads
    instead of parsing "demo_request +25.0"."""
    record: dict[str, Any] = {
        "name": c.name,
        "kind": "fit" if c.kind == types_pb2.CONTRIBUTION_KIND_FIT else "signal",
        "points": c.points,
        "feature": None if math.isnan(c.feature) else c.feature,
    }
    if c.kind == types_pb2.CONTRIBUTION_KIND_FIT:
        record["value"] = c.value
    return record


def score_record(
    score: types_pb2.Score, reasons: int = 3, *, structured: bool = False
) -> dict[str, Any]:
    """One score as a row; `structured` (JSON output) gives reasons and contributors as
    objects with their fields, tables keep the short strings."""
    if structured:
        why: list[Any] = [contribution_record(r) for r in list(score.top_reasons)[:reasons]]
        who: list[Any] = [
            {"entity_id": c.entity_id, "points": c.points} for c in score.top_contributors
        ]
    else:
        why = reasons_text(score, reasons)
        who = [f"{c.entity_id} {c.points:+.1f}" for c in score.top_contributors]
    return {
        "entity_id": score.entity_id,
        "score": score.score,
        "tier": score.tier or ("disqualified" if score.disqualified else ""),
        "engagement": score.engagement,
        "fit": score.fit,
        "disqualified": score.disqualified,
        "reasons": why,
        "contributors": who,
    }
