"""Transport security: TLS / mutual TLS credentials and bearer tokens with scopes.

Tokens live in a TOML file (`--tokens-file`), stored as SHA-256 digests so the file
does not hold usable secrets:

    [[tokens]]
    name = "crm-sync"
    sha256 = "<hex digest of the token>"   # or token = "<plain token>" for local setups
    scopes = ["score:read", "events:write"]

Scopes: score:read (ScoringService, profile reads), events:write (EventService), admin
(everything, including ReloadProfiles, Backtest, Calibrate, CompareProfiles and the
shadow calls StageProfile, PromoteProfile, DeleteShadowProfile). Health
and reflection stay open so probes and tooling work without a token.
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from prioscore.server.audit import CALLER, audit
from prioscore.server.config import Settings
from prioscore.server.errors import PermissionDeniedError, UnauthenticatedError
from prioscore.server.rpc.interceptor import status_of

SCORE_READ, EVENTS_WRITE, ADMIN = "score:read", "events:write", "admin"
SCOPES = (SCORE_READ, EVENTS_WRITE, ADMIN)

_ADMIN_METHODS = {
    "ReloadProfiles",
    "Backtest",
    "Calibrate",
    "CompareProfiles",
    "StageProfile",
    "PromoteProfile",
    "DeleteShadowProfile",
}
_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class TokensFileError(ValueError):
    """The tokens file is unreadable or malformed (named with file and entry)."""


@dataclass(frozen=True)
class TokenGrant:
    name: str
    digest: bytes
    scopes: frozenset[str]


def required_scope(method: str) -> str | None:
    """The scope a full method name needs, or None for open methods."""
    if method.startswith(_OPEN_SERVICES):
        return None
    service, _, name = method.rpartition("/")
    if name in _ADMIN_METHODS:
        return ADMIN
    if service.endswith("EventService"):
        return EVENTS_WRITE
    return SCORE_READ


def load_tokens(path: Path) -> list[TokenGrant]:
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TokensFileError(f"{path}: {error}") from error
    grants = []
    for i, entry in enumerate(data.get("tokens", [])):
        where = f"{path}: tokens[{i}]"
        scopes = frozenset(entry.get("scopes", []))
        unknown = scopes - set(SCOPES)
        if unknown:
            raise TokensFileError(f"{where}.scopes: unknown scope {sorted(unknown)[0]!r}")
        if "sha256" in entry:
            digest = bytes.fromhex(entry["sha256"])
        elif "token" in entry:
            digest = hashlib.sha256(entry["token"].encode()).digest()
        else:
            raise TokensFileError(f"{where}: needs sha256 or token")
        grants.append(TokenGrant(entry.get("name", f"token{i}"), digest, scopes))
    if not grants:
        raise TokensFileError(f"{path}: no [[tokens]] entries")
    return grants


def grant_name(grants: list[TokenGrant], token: str, scope: str) -> str | None:
    """The name of the grant `token` is, when it holds `scope` (or admin); else None.
    The Segment HTTP API checks its write keys with this (they are tokens too)."""
    digest = hashlib.sha256(token.encode()).digest()
    for grant in grants:
        if hmac.compare_digest(grant.digest, digest):
            return grant.name if scope in grant.scopes or ADMIN in grant.scopes else None
    return None


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without a valid bearer token holding the method's scope."""

    def __init__(self, grants: list[TokenGrant]) -> None:
        self._grants = grants

    def _grant_for(self, token: str) -> TokenGrant | None:
        digest = hashlib.sha256(token.encode()).digest()
        for grant in self._grants:
            if hmac.compare_digest(grant.digest, digest):
                return grant
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        needed = required_scope(handler_call_details.method)
        if needed is None:
            return await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = str(metadata.get("authorization", ""))
        if not header.lower().startswith("bearer "):
            return _rejection(UnauthenticatedError("missing bearer token", reason="TOKEN_MISSING"))
        grant = self._grant_for(header[7:].strip())
        if grant is None:
            return _rejection(UnauthenticatedError("unknown bearer token", reason="TOKEN_UNKNOWN"))
        if needed not in grant.scopes and ADMIN not in grant.scopes:
            error = PermissionDeniedError(f"token {grant.name!r} lacks scope {needed}")
            return _rejection(error, caller=grant.name)
        CALLER.set(grant.name)  # read by the audit lines of the call it admits
        return await continuation(handler_call_details)


def _rejection(
    error: UnauthenticatedError | PermissionDeniedError, caller: str = "anonymous"
) -> grpc.RpcMethodHandler:
    """A handler that fails the call before any request is read (works for every arity)."""
    status = status_of(error)

    async def reject(request_or_iterator: object, context: grpc.aio.ServicerContext) -> None:
        CALLER.set(caller)
        audit("auth.rejected", reason=error.reason, status=status.code.name, detail=str(error))
        await context.abort(status.code, status.details, status.trailing_metadata)

    return grpc.stream_stream_rpc_method_handler(reject)


def build_auth_interceptor(settings: Settings) -> BearerTokenInterceptor | None:
    if settings.tokens_file is None:
        return None
    return BearerTokenInterceptor(load_tokens(settings.tokens_file))


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS from cert/key files; with a client CA, clients must present a certificate."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    pair = (settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())
    if settings.tls_client_ca is None:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials(
        [pair],
        root_certificates=settings.tls_client_ca.read_bytes(),
        require_client_auth=True,
    )
