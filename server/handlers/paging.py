"""Opaque page tokens (AIP-158): keyset positions, bound to the query that issued them.

A token carries the last row's sort key and a fingerprint of the filters; presenting it
with other filters is INVALID_ARGUMENT rather than a silently wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from prioscore.server.errors import InvalidArgumentError

_BAD_TOKEN = "PAGE_TOKEN_INVALID"


def fingerprint(*parts: object) -> str:
    return hashlib.blake2s(repr(parts).encode(), digest_size=6).hexdigest()


def encode_token(query: str, position: list[Any]) -> str:
    raw = json.dumps({"q": query, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, query: str, field: str = "page_token") -> list[Any] | None:
    """None for an empty token (first page); the position for a valid one."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        position = data["p"]
        issued_for = data["q"]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidArgumentError.of(
            field, "not a token this server issued", reason=_BAD_TOKEN
        ) from error
    if issued_for != query:
        raise InvalidArgumentError.of(
            field, "was issued for a different query; start again", reason=_BAD_TOKEN
        )
    if not isinstance(position, list):
        raise InvalidArgumentError.of(field, "not a token this server issued", reason=_BAD_TOKEN)
    return position


def page_size(requested: int, maximum: int, default: int = 50, field: str = "page_size") -> int:
    if requested < 0:
        raise InvalidArgumentError.of(field, "must not be negative")
    return min(requested or default, maximum)
