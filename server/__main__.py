"""Composition root: `python -m prioscore.server` (what `make serve` runs)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from prioscore.server.config import Settings, load_settings
from prioscore.server.errors import ProfileInvalidError
from prioscore.server.handlers import Handlers, build_handlers
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
    TokensFileError,
    grant_name,
    load_tokens,
    run_until_signalled,
)
from prioscore.server.store import Store
from prioscore.server.telemetry import TelemetryUnavailableError, configure


def build(settings: Settings) -> Handlers:
    """Loads the profiles (all or nothing), opens the store and builds the handlers."""
    registry = ProfileRegistry.from_directory(settings.profiles or bundled.DIRECTORY)
    return build_handlers(
        Store(settings.db), registry, limits=settings.limits, kinds=settings.kinds
    )


def write_keys(settings: Settings) -> Authorize | None:
    """Segment write keys are tokens of the tokens file that hold events:write."""
    if settings.tokens_file is None:
        return None
    grants = load_tokens(settings.tokens_file)
    return lambda key: grant_name(grants, key, EVENTS_WRITE)


async def serve(handlers: Handlers, settings: Settings) -> None:
    """gRPC until signalled, with the Segment HTTP API beside it when configured."""
    listener = None
    if settings.http_address:
        app = segment_app(handlers.service, write_keys(settings))
        listener = await start_segment_listener(app, settings.http_address)
    try:
        await run_until_signalled(handlers, settings)
    finally:
        if listener is not None:
            await listener.stop()


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    configure_logging(settings.log_level, settings.log_format)
    try:
        telemetry = configure(settings.telemetry, prometheus=bool(settings.metrics_address))
    except TelemetryUnavailableError as error:
        print(f"prioscore: {error}", file=sys.stderr)
        return 2
    try:
        handlers = build(settings)
    except ProfileInvalidError as error:
        for issue in error.issues:
            print(issue, file=sys.stderr)
        return 2
    endpoint = None
    try:
        if settings.metrics_address:
            endpoint = start_metrics_endpoint(settings.metrics_address)
        asyncio.run(serve(handlers, settings))
    except (TokensFileError, OSError) as error:  # bad tokens file, unreadable cert, bind
        print(f"prioscore: {error}", file=sys.stderr)
        return 2
    finally:
        if endpoint is not None:
            endpoint.stop()
        handlers.close()
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
