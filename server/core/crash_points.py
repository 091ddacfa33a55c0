"""Named crash points: the process dies on the spot (os._exit, like kill -9) at the step
named by PRIOSCORE_CRASH_AT, so crash-recovery tests hit a moment exactly instead of
guessing it with sleeps. Unset (always, outside those tests), a crash point does nothing.
"""

from __future__ import annotations

import logging
import os

ENVIRONMENT = "PRIOSCORE_CRASH_AT"
EXIT_CODE = 137  # what a shell reports for SIGKILL

log = logging.getLogger("prioscore.core")


def crash_point(step: str) -> None:
    """Ends the process without cleanup when PRIOSCORE_CRASH_AT names `step`: no
    finally blocks, no COMMIT, no flushed buffers (the log line is flushed first)."""
    if os.environ.get(ENVIRONMENT) == step:
        log.critical("crash point %s: exiting now", step)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_CODE)


__all__ = ["ENVIRONMENT", "crash_point"]
