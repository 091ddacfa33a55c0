"""Settings: every knob in one place, from flags or PRIOSCORE_* environment variables.

Precedence: command-line flag > environment variable > default. The composition root
(`__main__`) builds one Settings and hands the pieces to whoever needs them, so nothing
else reads the environment.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

ENV_PREFIX = "PRIOSCORE_"


@dataclass(frozen=True)
class Limits:
    """The input contract's numbers, in one place; types.proto documents the same ones
    (tests/ops/test_input_contract.py holds the two together).

    The first five are knobs (flags / PRIOSCORE_* variables); the rest are the contract
    every client codes against, so they are not configurable. Exceeding a count limit is
    INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for message and stream sizes).
    """

    max_message_bytes: int = 64 * 1024 * 1024
    max_rows_per_batch: int = 1_000_000  # rows of a feature matrix (StreamScores, inline)
    max_events_per_request: int = 10_000
    max_stream_messages: int = 1_000_000
    max_page_size: int = 1_000
    max_ids_per_request: int = 10_000  # stored entity ids, inline or upserted entities
    max_id_bytes: int = 512  # message_id, entity_id, account_id, any id field (UTF-8)
    max_name_bytes: int = 256  # event names, kinds, profile / tier names, map keys
    max_value_bytes: int = 4_096  # a string property, trait or attribute value
    max_map_entries: int = 256  # properties, metrics, traits ... of one event or entity
    max_profile_bytes: int = 1_048_576  # TOML text of one profile
    max_profile_signals: int = 512  # [[signals]] of one profile (and patterns: match values)
    max_matrix_columns: int = 4_096  # columns of one Matrix
    min_timestamp: float = 0.0  # 1970-01-01T00:00:00Z
    max_timestamp: float = 253_402_300_799.0  # 9999-12-31T23:59:59Z
    max_future_seconds: float = 86_400.0  # ingest refuses events further ahead of the clock

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


KNOBS = (
    "max_message_bytes",
    "max_rows_per_batch",
    "max_events_per_request",
    "max_stream_messages",
    "max_page_size",
    "max_segment_message_bytes",
    "max_segment_batch_bytes",
)


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
    tls_client_names: str = ""  # comma-separated client certificate names allowed (mTLS)
    insecure: bool = False  # allow a non-loopback address without TLS and tokens
    stream_idle_seconds: float = 300.0  # a client stream silent this long is closed
    connection_idle_seconds: float = 900.0  # a connection without calls this long is closed
    retention_days: float = 0.0  # > 0: purge events, history, tier changes older than this
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

    @cached_property
    def limits(self) -> Limits:
        """The knobs as one Limits, built once (callers read it on every request)."""
        return Limits(**{name: getattr(self, name) for name in KNOBS})


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
    "tls_client_names": "comma-separated common / alternative names of allowed client"
    " certificates (needs --tls-client-ca)",
    "insecure": "listen on a non-loopback address without TLS and tokens (logs a warning)",
    "stream_idle_seconds": "close a client stream that sends nothing for this long",
    "connection_idle_seconds": "close a connection that has no call for this long",
    "retention_days": "purge events, score history and tier changes older than this many"
    " days (0: keep everything)",
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


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(kind: str, raw: str) -> object:
    if kind.startswith("bool"):
        if raw.lower() in _TRUE + _FALSE:
            return raw.lower() in _TRUE
        raise ValueError(raw)
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
        flag = f"--{f.name.replace('_', '-')}"
        if str(f.type).startswith("bool"):
            parser.add_argument(flag, dest=f.name, action="store_const", const="true")
        else:
            parser.add_argument(flag, dest=f.name, help=_HELP.get(f.name))
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
                expected = "true or false" if str(f.type).startswith("bool") else "a number"
                parser.error(f"{source}: {raw!r} is not {expected}")
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
    for name in KNOBS:
        if getattr(settings, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if settings.grace_seconds < 0:
        parser.error("--grace-seconds must not be negative")
    if settings.retention_days < 0:
        parser.error("--retention-days must not be negative (0 keeps everything)")
    for name in ("stream_idle_seconds", "connection_idle_seconds"):
        if getattr(settings, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if settings.tls_client_names and settings.tls_client_ca is None:
        parser.error("--tls-client-names needs --tls-client-ca (mutual TLS)")
    if settings.log_level.upper() not in logging.getLevelNamesMapping():
        parser.error(f"--log-level {settings.log_level!r} is not a logging level")
    protected = settings.tls_cert is not None and settings.tokens_file is not None
    if not protected and not settings.insecure and not is_loopback(settings.address):
        parser.error(
            f"refusing to listen on {settings.address} without TLS and tokens: anyone who"
            " can reach it could read scores, write events and erase entities; set"
            " --tls-cert/--tls-key and --tokens-file, or pass --insecure"
        )


def is_loopback(address: str) -> bool:
    """Whether host:port (or [v6]:port, or unix:...) only accepts local connections."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = address.rpartition(":")[0].strip("[]") if ":" in address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or "" / "0.0.0.0"-style wildcards: may be reachable
