"""The only gRPC-aware code: server lifecycle (health, reflection, drain), thin servicers,
converters, status mapping, the telemetry/error interceptor and bearer-token auth."""

from prioscore.server.rpc.auth import TokensFileError
from prioscore.server.rpc.server import RunningServer, run_until_signalled, start_server

__all__ = ["RunningServer", "TokensFileError", "run_until_signalled", "start_server"]
