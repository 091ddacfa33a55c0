"""The only gRPC-aware code: server lifecycle (health, reflection, drain), thin servicers,
converters, status mapping, the telemetry/error interceptor and bearer-token auth."""

from prioscore.server.rpc.auth import (
    EVENTS_WRITE,
    TlsFilesError,
    TokensFileError,
    check_tls_files,
    grant_name,
    load_tokens,
    security_warnings,
)
from prioscore.server.rpc.server import RunningServer, run_until_signalled, start_server

__all__ = [
    "EVENTS_WRITE",
    "RunningServer",
    "TlsFilesError",
    "TokensFileError",
    "check_tls_files",
    "grant_name",
    "load_tokens",
    "run_until_signalled",
    "security_warnings",
    "start_server",
]
