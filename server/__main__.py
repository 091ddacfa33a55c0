"""Composition root: `python -m prioscore.server` (what `make serve` runs)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from prioscore.server.config import Settings, load_settings
from prioscore.server.errors import ProfileInvalidError
from prioscore.server.handlers import Handlers, build_handlers
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.rpc.auth import TokensFileError
from prioscore.server.rpc.server import run_until_signalled
from prioscore.server.store import Store
from prioscore.server.telemetry import TelemetryUnavailableError, configure

log = logging.getLogger("prioscore.server")


def build(settings: Settings) -> Handlers:
    """Loads the profiles (all or nothing), opens the store and builds the handlers."""
    registry = ProfileRegistry.from_directory(settings.profiles or bundled.DIRECTORY)
    return build_handlers(Store(settings.db), registry, limits=settings.limits)


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    try:
        telemetry = configure(settings.telemetry)
    except TelemetryUnavailableError as error:
        print(f"prioscore: {error}", file=sys.stderr)
        return 2
    try:
        handlers = build(settings)
    except ProfileInvalidError as error:
        for issue in error.issues:
            print(issue, file=sys.stderr)
        return 2
    try:
        asyncio.run(run_until_signalled(handlers, settings))
    except (TokensFileError, OSError) as error:  # bad tokens file, unreadable cert, bind
        print(f"prioscore: {error}", file=sys.stderr)
        return 2
    finally:
        handlers.close()
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
