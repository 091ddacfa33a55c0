"""Transport security: TLS / mutual TLS credentials and bearer tokens with scopes.

Tokens live in a TOML file (`--tokens-file`), stored as SHA-256 digests so the file
does not hold usable secrets:

    [[tokens]]
    name = "crm-sync"
    sha256 = "<hex digest of the token>"   # or token = "<plain token>" for local setups
    scopes = ["score:read", "events:write"]

Scopes: score:read (ScoringService, profile reads), events:write (IngestEvents),
entities:write (UpsertEntities: it rewrites attributes an event stream never touches),
entities:erase (EraseEntity, AllowEntity: irreversible, so not implied by writing
events), admin
(everything, including ReloadProfiles, Backtest, Calibrate, CompareProfiles and the
shadow calls StageProfile, PromoteProfile, DeleteShadowProfile). Health
and reflection stay open so probes and tooling work without a token.

A token entry must be non-empty; a call with more than one authorization header is
refused (which one counts would be up to the proxy in between). With mutual TLS,
`--tls-client-names` optionally allows only client certificates whose common name or a
subject alternative name is listed.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import ssl
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from prioscore.server.audit import CALLER, audit
from prioscore.server.config import Settings, is_loopback
from prioscore.server.errors import PermissionDeniedError, UnauthenticatedError
from prioscore.server.rpc.statuses import status_of

SCORE_READ, EVENTS_WRITE, ADMIN = "score:read", "events:write", "admin"
ENTITIES_WRITE, ENTITIES_ERASE = "entities:write", "entities:erase"
SCOPES = (SCORE_READ, EVENTS_WRITE, ENTITIES_WRITE, ENTITIES_ERASE, ADMIN)
_OWN_SCOPE = {
    "UpsertEntities": ENTITIES_WRITE,
    "EraseEntity": ENTITIES_ERASE,
    "AllowEntity": ENTITIES_ERASE,
}

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
KEEPALIVE_SECONDS, KEEPALIVE_TIMEOUT_SECONDS = 60, 20


_EMPTY_DIGEST = hashlib.sha256(b"").digest()


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
    if name in _OWN_SCOPE:
        return _OWN_SCOPE[name]
    if service.endswith("EventService"):
        return EVENTS_WRITE
    return SCORE_READ


def load_tokens(path: Path) -> list[TokenGrant]:
    """The grants of a tokens file; TokensFileError names the file and the bad entry."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise TokensFileError(f"{path}: {error}") from error
    entries = data.get("tokens", [])
    if not isinstance(entries, list):
        raise TokensFileError(f"{path}: write [[tokens]] tables, not tokens = ...")
    grants = [_grant(entry, f"{path}: tokens[{i}]", i) for i, entry in enumerate(entries)]
    if not grants:
        raise TokensFileError(f"{path}: no [[tokens]] entries")
    return grants


def _grant(entry: object, where: str, index: int) -> TokenGrant:
    if not isinstance(entry, dict):
        raise TokensFileError(f"{where}: must be a table")
    raw_scopes = entry.get("scopes", [])
    if not isinstance(raw_scopes, list) or not all(isinstance(x, str) for x in raw_scopes):
        raise TokensFileError(f"{where}.scopes: must be an array of scope names")
    scopes = frozenset(raw_scopes)
    unknown = scopes - set(SCOPES)
    if unknown:
        raise TokensFileError(f"{where}.scopes: unknown scope {sorted(unknown)[0]!r}")
    if "sha256" in entry:
        try:
            digest = bytes.fromhex(str(entry["sha256"]))
        except ValueError:
            raise TokensFileError(f"{where}.sha256: not a hex digest") from None
        if len(digest) != hashlib.sha256().digest_size:
            raise TokensFileError(f"{where}.sha256: must be 64 hex digits")
        if digest == _EMPTY_DIGEST:
            raise TokensFileError(f"{where}.sha256: is the digest of an empty token")
    elif "token" in entry:
        token = str(entry["token"]).strip()
        if not token:
            raise TokensFileError(f"{where}.token: must not be empty")
        digest = hashlib.sha256(token.encode()).digest()
    else:
        raise TokensFileError(f"{where}: needs sha256 or token")
    return TokenGrant(str(entry.get("name", f"token{index}")), digest, scopes)


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
        headers = [
            str(value)
            for key, value in handler_call_details.invocation_metadata or ()
            if key == "authorization"
        ]
        if len(headers) > 1:
            return _rejection(
                UnauthenticatedError("more than one authorization header", reason="TOKEN_AMBIGUOUS")
            )
        header = headers[0] if headers else ""
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            return _rejection(UnauthenticatedError("missing bearer token", reason="TOKEN_MISSING"))
        grant = self._grant_for(token)
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


class TlsFilesError(ValueError):
    """A certificate, key or CA file is unreadable, not PEM, or the key does not match."""


def check_tls_files(settings: Settings) -> None:
    """Loads the TLS files the way OpenSSL will, so a bad file is one clear line at start
    (gRPC itself only reports "Failed to bind to address")."""
    if settings.tls_cert is None or settings.tls_key is None:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise TlsFilesError(
            f"--tls-cert {settings.tls_cert} / --tls-key {settings.tls_key}: not a PEM"
            f" certificate and its private key ({error})"
        ) from None
    if settings.tls_client_ca is not None:
        try:
            context.load_verify_locations(cafile=settings.tls_client_ca)
        except (OSError, ssl.SSLError) as error:
            raise TlsFilesError(
                f"--tls-client-ca {settings.tls_client_ca}: not a PEM CA bundle ({error})"
            ) from None


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS from cert/key files; with a client CA, clients must present a certificate."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    check_tls_files(settings)
    pair = (settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())
    if settings.tls_client_ca is None:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials(
        [pair],
        root_certificates=settings.tls_client_ca.read_bytes(),
        require_client_auth=True,
    )


def build_identity_interceptor(settings: Settings) -> ClientIdentityInterceptor | None:
    names = frozenset(n.strip() for n in settings.tls_client_names.split(",") if n.strip())
    return ClientIdentityInterceptor(names) if names else None


class ClientIdentityInterceptor(grpc.aio.ServerInterceptor):
    """With mutual TLS, admits only client certificates whose common name or one of whose
    subject alternative names is allowed (a CA may sign for more clients than should call)."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self._allowed = allowed

    def _admits(self, context: grpc.aio.ServicerContext) -> bool:
        auth = context.auth_context()
        presented = [
            value.decode(errors="replace")
            for key in ("x509_common_name", "x509_subject_alternative_name")
            for value in auth.get(key, [])
        ]
        return any(name in self._allowed for name in presented)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        found = await continuation(handler_call_details)
        if found is None or required_scope(handler_call_details.method) is None:
            return found
        return _guarded(found, self._admits)


def _guarded(
    found: grpc.RpcMethodHandler, admits: Callable[[grpc.aio.ServicerContext], bool]
) -> grpc.RpcMethodHandler:
    """The handler with `admits(context)` checked before its behaviour runs."""
    handler: Any = found  # a namedtuple at runtime (_replace); the stubs do not say so
    refusal = status_of(
        PermissionDeniedError("client certificate not allowed", reason="CLIENT_NOT_ALLOWED")
    )

    async def check(context: grpc.aio.ServicerContext) -> None:
        if not admits(context):
            await context.abort(refusal.code, refusal.details, refusal.trailing_metadata)

    if handler.response_streaming:
        name = "unary_stream" if handler.unary_stream else "stream_stream"
        inner = getattr(handler, name)

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await check(context)
            responses = inner(request, context)
            if inspect.isawaitable(responses):
                await responses
                return
            async for response in responses:
                yield response

        return handler._replace(**{name: streaming})
    name = "unary_unary" if handler.unary_unary else "stream_unary"
    inner_unary = getattr(handler, name)

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await check(context)
        return await inner_unary(request, context)

    return handler._replace(**{name: unary})


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel arguments: message limits, and time limits so idle or dead peers do not
    hold connections (and file descriptors) forever."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.max_connection_idle_ms", int(settings.connection_idle_seconds * 1000)),
        ("grpc.keepalive_time_ms", KEEPALIVE_SECONDS * 1000),  # ping to find dead peers
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_SECONDS * 1000),
    ]


def security_warnings(settings: Settings) -> list[str]:
    """What an operator should hear at start about an open or exposed server."""
    warnings = []
    if settings.tokens_file is None:
        warnings.append(
            "no --tokens-file: every RPC, the admin ones (ReloadProfiles, StageProfile,"
            " PromoteProfile, EraseEntity, Calibrate ...) included, needs no credentials"
        )
    if not is_loopback(settings.address) and (
        settings.tls_cert is None or settings.tokens_file is None
    ):
        warnings.append(
            f"--insecure: listening on {settings.address} without TLS and tokens; anyone"
            " who can reach it can read and change everything"
        )
    return warnings
