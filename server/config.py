"""Settings: every knob in one place, from flags or PRIOSCORE_* environment variables.

Precedence: command-line flag > environment variable > default. The composition root
(`__main__`) builds one Settings and hands the pieces to whoever needs them, so nothing
else reads the environment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

ENV_PREFIX = "PRIOSCORE_"


@dataclass(frozen=True)
class Limits:
    """Per-request limits; exceeding one is a clear RESOURCE_EXHAUSTED/INVALID_ARGUMENT."""

    max_message_bytes: int = 64 * 1024 * 1024
    max_rows_per_batch: int = 1_000_000
    max_events_per_request: int = 100_000
    max_stream_messages: int = 1_000_000
    max_page_size: int = 1_000
    # Segment's own HTTP tracking API limits: 32 KB per call, 500 KB per batch request.
    max_segment_message_bytes: int = 32 * 1024
    max_segment_batch_bytes: int = 500 * 1024


@dataclass(frozen=True)
class EntityKinds:
    """The kind an entity gets when the message that first names it says none.

    Per source: plain IngestEvents events without entity_kind, and Segment calls
    (userId / anonymousId are people; groupId names an account). An entity's kind picks
    the profiles that score it, and an entity without one is scored by none.
    """

    event_default: str = "contact"
    segment_person: str = "contact"
    account: str = "account"


@dataclass(frozen=True)
class Settings:
    address: str = "127.0.0.1:50051"
    db: Path = Path("./data/prioscore.db")
    profiles: Path | None = None  # None => the bundled profiles shipped in the package
    grace_seconds: float = 10.0
    max_message_bytes: int = Limits.max_message_bytes
    max_rows_per_batch: int = Limits.max_rows_per_batch
    max_events_per_request: int = Limits.max_events_per_request
    max_stream_messages: int = Limits.max_stream_messages
    max_page_size: int = Limits.max_page_size
    max_segment_message_bytes: int = Limits.max_segment_message_bytes
    max_segment_batch_bytes: int = Limits.max_segment_batch_bytes
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # set => mutual TLS: clients must present a cert
    tokens_file: Path | None = None  # set => bearer tokens with scopes are required
    telemetry: str = "none"  # none | console | otlp
    metrics_address: str = ""  # set => Prometheus scrape endpoint GET /metrics there
    log_level: str = "INFO"
    log_format: str = "text"  # text | json
    http_address: str = ""  # set => Segment HTTP tracking API (/v1/track, /v1/batch, ...)
    event_entity_kind: str = EntityKinds.event_default
    segment_person_kind: str = EntityKinds.segment_person
    account_kind: str = EntityKinds.account

    @property
    def kinds(self) -> EntityKinds:
        return EntityKinds(self.event_entity_kind, self.segment_person_kind, self.account_kind)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_message_bytes=self.max_message_bytes,
            max_rows_per_batch=self.max_rows_per_batch,
            max_events_per_request=self.max_events_per_request,
            max_stream_messages=self.max_stream_messages,
            max_page_size=self.max_page_size,
            max_segment_message_bytes=self.max_segment_message_bytes,
            max_segment_batch_bytes=self.max_segment_batch_bytes,
        )


_HELP = {
    "address": "host:port to listen on",
    "db": "SQLite file (created if absent)",
    "profiles": "directory of *.toml scoring profiles (default: the bundled ones)",
    "grace_seconds": "seconds in-flight calls get to finish on SIGTERM",
    "max_message_bytes": "largest gRPC message accepted or sent",
    "max_rows_per_batch": "largest StreamScores / ScoreEntities batch",
    "max_events_per_request": "largest IngestEvents message",
    "max_stream_messages": "most messages in one client stream",
    "max_page_size": "largest page_size honoured by list/rank RPCs",
    "tls_cert": "server certificate (PEM) - enables TLS",
    "tls_key": "server private key (PEM)",
    "tls_client_ca": "CA bundle (PEM) for client certificates - enables mutual TLS",
    "tokens_file": "TOML file of bearer tokens and their scopes - enables auth",
    "telemetry": "OpenTelemetry exporter: none, console or otlp",
    "metrics_address": "host:port of the Prometheus scrape endpoint GET /metrics (off if unset)",
    "log_level": "logging level",
    "log_format": "log lines as text or json (one object per line, audit fields as keys)",
    "max_segment_message_bytes": "largest Segment call (HTTP or IngestSegment message)",
    "max_segment_batch_bytes": "largest Segment HTTP request body (after gunzip)",
    "http_address": "host:port of the Segment HTTP tracking API /v1/* (off if unset)",
    "event_entity_kind": "kind of entities first seen in IngestEvents without entity_kind",
    "segment_person_kind": "kind of Segment userId / anonymousId entities",
    "account_kind": "kind of accounts named by group calls (groupId, account_id)",
}


def _convert(kind: str, raw: str) -> object:
    if "Path" in kind:
        return Path(raw)
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    return raw


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Builds Settings from flags (--db, --address, ...) over PRIOSCORE_* over defaults."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m prioscore.server")
    for f in fields(Settings):
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, help=_HELP.get(f.name))
    args = parser.parse_args(argv)
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = getattr(args, f.name)
        source = f"--{f.name.replace('_', '-')}"
        if raw is None:
            raw = environ.get(ENV_PREFIX + f.name.upper())
            source = ENV_PREFIX + f.name.upper()
        if raw is not None and raw != "":
            try:
                values[f.name] = _convert(str(f.type), raw)
            except ValueError:
                parser.error(f"{source}: {raw!r} is not a number")
    settings = Settings(**values)  # type: ignore[arg-type]
    _check(settings, parser)
    return settings


def _check(settings: Settings, parser: argparse.ArgumentParser) -> None:
    """Rejects settings that would fail later with a traceback, or silently weaken security."""
    if settings.telemetry not in ("none", "console", "otlp"):
        parser.error(f"--telemetry must be none, console or otlp, not {settings.telemetry!r}")
    if settings.log_format not in ("text", "json"):
        parser.error(f"--log-format must be text or json, not {settings.log_format!r}")
    if settings.metrics_address and not settings.metrics_address.rpartition(":")[2].isdigit():
        parser.error(f"--metrics-address must be host:port, not {settings.metrics_address!r}")
    if settings.http_address and not settings.http_address.rpartition(":")[2].isdigit():
        parser.error(f"--http-address must be host:port, not {settings.http_address!r}")
    for name in ("event_entity_kind", "segment_person_kind", "account_kind"):
        if not getattr(settings, name):
            parser.error(f"--{name.replace('_', '-')} must not be empty")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        parser.error("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    for name in ("tls_cert", "tls_key", "tls_client_ca", "tokens_file"):
        path = getattr(settings, name)
        if path is not None and not Path(path).is_file():
            parser.error(f"--{name.replace('_', '-')}: no such file {str(path)!r}")
    for limit in fields(Limits):
        if getattr(settings, limit.name) <= 0:
            parser.error(f"--{limit.name.replace('_', '-')} must be positive")
    if settings.grace_seconds < 0:
        parser.error("--grace-seconds must not be negative")
