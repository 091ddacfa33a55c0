"""Composition root: `python -m prioscore.server` (what `make serve` runs).

Every start-up failure (flags, TLS or tokens files, the database, the profiles, the port)
ends in one line on stderr naming what to fix and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Sequence

from prioscore.server.config import Settings, load_settings
from prioscore.server.errors import PrioscoreError, ProfileInvalidError
from prioscore.server.handlers import Handlers, Retention, build_handlers
from prioscore.server.http import (
    Authorize,
    segment_app,
    start_metrics_endpoint,
    start_segment_listener,
)
from prioscore.server.logs import configure_logging
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.rpc import (
    EVENTS_WRITE,
    TlsFilesError,
    TokensFileError,
    check_tls_files,
    grant_name,
    load_tokens,
    run_until_signalled,
    security_warnings,
)
from prioscore.server.store import Store
from prioscore.server.telemetry import TelemetryUnavailableError, configure

log = logging.getLogger("prioscore.server")
EXIT_START_FAILED = 2


def build(settings: Settings) -> Handlers:
    """Loads the profiles (all or nothing), opens the store and builds the handlers."""
    registry = ProfileRegistry.from_directory(settings.profiles or bundled.DIRECTORY)
    return build_handlers(
        Store(settings.db), registry, limits=settings.limits, kinds=settings.kinds
    )


def _write_keys(settings: Settings) -> Authorize | None:
    """Segment write keys are tokens of the tokens file that hold events:write."""
    if settings.tokens_file is None:
        return None
    grants = load_tokens(settings.tokens_file)
    return lambda key: grant_name(grants, key, EVENTS_WRITE)


async def _serve(handlers: Handlers, settings: Settings) -> None:
    """gRPC until signalled, with the Segment HTTP API beside it when configured and the
    retention purge when asked for."""
    listener = None
    if settings.http_address:
        app = segment_app(handlers.service, _write_keys(settings))
        listener = await start_segment_listener(app, settings.http_address)
    purging = None
    if settings.retention_days > 0:
        retention = Retention(
            handlers.store, handlers.clock.now, settings.retention_days, handlers.core
        )
        purging = asyncio.create_task(retention.run())
    try:
        await run_until_signalled(handlers, settings)
    finally:
        if purging is not None:
            purging.cancel()
        if listener is not None:
            await listener.stop()


def _failed(message: object) -> int:
    print(f"prioscore: {message}", file=sys.stderr)
    return EXIT_START_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)  # bad flags: argparse prints one line and exits 2
    configure_logging(settings.log_level, settings.log_format)
    for warning in security_warnings(settings):
        log.warning("%s", warning)
    try:  # the security files first: a typo there should not wait for a big database
        check_tls_files(settings)
        if settings.tokens_file is not None:
            load_tokens(settings.tokens_file)
    except (TlsFilesError, TokensFileError) as error:
        return _failed(error)
    try:
        telemetry = configure(settings.telemetry, prometheus=bool(settings.metrics_address))
    except TelemetryUnavailableError as error:
        return _failed(error)
    try:
        handlers = build(settings)
    except ProfileInvalidError as error:
        for issue in error.issues:
            print(issue, file=sys.stderr)
        telemetry.shutdown()
        return EXIT_START_FAILED
    except (PrioscoreError, sqlite3.Error, OSError) as error:
        telemetry.shutdown()
        return _failed(f"database {settings.db}: {error}")
    endpoint = None
    try:
        if settings.metrics_address:
            endpoint = start_metrics_endpoint(settings.metrics_address)
        asyncio.run(_serve(handlers, settings))
    except (TokensFileError, TlsFilesError, OSError) as error:
        return _failed(error)
    except RuntimeError:  # grpc's "Failed to bind to address"
        return _failed(
            f"cannot listen on {settings.address}: the port is in use or the"
            " address is not one of this host's"
        )
    finally:
        if endpoint is not None:
            endpoint.stop()
        handlers.close()
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
