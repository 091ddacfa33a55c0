"""Building a grpc.aio channel: target, TLS credentials, message size limits, bearer token.

The bearer token travels as per-call `authorization` metadata rather than as gRPC call
credentials, because call credentials refuse insecure channels and local development
servers run without TLS; the server's auth interceptor reads the same header either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

# Matches the server's default max_message_bytes: a 100k x 32 float64 batch is ~25 MB.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_TARGET = "127.0.0.1:50051"
# gRPC's own reconnect backoff starts at 1 s and grows to 120 s, and a call made while the
# connection backs off fails at once. Our retries (retry.py) wait 0.1-2 s, so with the
# defaults every retry after a server restart could land inside that backoff; these keep
# reconnecting at the retries' pace.
RECONNECT_BACKOFF_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ChannelConfig:
    """Everything needed to open a channel; the sync wrapper opens it on its own loop."""

    target: str = DEFAULT_TARGET
    credentials: grpc.ChannelCredentials | None = None
    options: tuple[tuple[str, Any], ...] = ()
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES

    def open(self) -> grpc.aio.Channel:
        """Opens the channel; must run where the caller's asyncio loop is current."""
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            *RECONNECT_BACKOFF_OPTIONS,
            *self.options,
        ]
        if self.credentials is None:
            return grpc.aio.insecure_channel(self.target, options=options)
        return grpc.aio.secure_channel(self.target, self.credentials, options=options)


def tls_credentials(
    ca_cert: Path | None = None, client_cert: Path | None = None, client_key: Path | None = None
) -> grpc.ChannelCredentials:
    """TLS credentials from PEM files; a client cert + key enables mutual TLS.

    Without `ca_cert` the system roots are used (a server with a public certificate).
    """
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together")
    return grpc.ssl_channel_credentials(
        root_certificates=ca_cert.read_bytes() if ca_cert else None,
        private_key=client_key.read_bytes() if client_key else None,
        certificate_chain=client_cert.read_bytes() if client_cert else None,
    )


def auth_metadata(token: str | None, extra: Sequence[tuple[str, str]] = ()) -> Metadata:
    """Per-call metadata: `authorization: Bearer <token>` when a token is set."""
    pairs = [(k.lower(), v) for k, v in extra]
    if token:
        pairs.append(("authorization", f"Bearer {token}"))
    return tuple(pairs)
