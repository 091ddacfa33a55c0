"""The audit trail: one log line per administrative or destructive action.

Reloads, stages, promotions, discards, erasures and rejected credentials are what an
operator must be able to reconstruct afterwards ("who erased c-1, and when?"), so each is
logged on the `prioscore.audit` logger with the action, its outcome and the caller. The
caller is set per request by the transport (rpc/auth.py: the token's name; rpc/interceptor.py:
the peer address), through context variables, so handlers stay transport-neutral.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

CALLER: ContextVar[str] = ContextVar("prioscore_caller", default="anonymous")
PEER: ContextVar[str] = ContextVar("prioscore_peer", default="local")

_log = logging.getLogger("prioscore.audit")


def audit(action: str, **fields: object) -> None:
    """Logs `action` with its fields and the current caller (structured under `audit`)."""
    record = {"action": action, "caller": CALLER.get(), "peer": PEER.get(), **fields}
    text = " ".join(f"{key}={value}" for key, value in record.items())
    _log.info("audit %s", text, extra={"audit": record})


__all__ = ["CALLER", "PEER", "audit"]
