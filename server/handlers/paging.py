"""Opaque page tokens (AIP-158): keyset positions, bound to the query that issued them.

A token carries the last row's sort key and a fingerprint of the filters, signed with a
key this process draws at start (HMAC-SHA256): a client cannot build or alter one, and
presenting one with other filters is INVALID_ARGUMENT rather than a silently wrong page.
Tokens therefore do not outlive a restart; the caller starts the listing again. The
position is checked against the types the query expects before anything reads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from prioscore.server.errors import InvalidArgumentError

_BAD_TOKEN = "PAGE_TOKEN_INVALID"
_KEY = secrets.token_bytes(32)
_TAG_BYTES = 16


def fingerprint(*parts: object) -> str:
    return hashlib.blake2s(repr(parts).encode(), digest_size=6).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(payload: bytes) -> bytes:
    return hmac.new(_KEY, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def encode_token(query: str, position: list[Any]) -> str:
    payload = json.dumps({"q": query, "p": position}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_tag(payload))}"


def _conforms(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float) and value == value  # finite checked by JSON
    return isinstance(value, kind)


def decode_token(
    token: str, query: str, shape: tuple[type, ...], field: str = "page_token"
) -> list[Any] | None:
    """None for an empty token (first page); the position (len(shape) values of those
    types) for a token this process issued for `query`."""
    if not token:
        return None
    forged = InvalidArgumentError.of(field, "not a token this server issued", reason=_BAD_TOKEN)
    payload_text, _, tag_text = token.partition(".")
    try:
        payload, tag = _unb64(payload_text), _unb64(tag_text)
    except (ValueError, binascii.Error):
        raise forged from None
    if not hmac.compare_digest(tag, _tag(payload)):
        raise forged
    data = json.loads(payload)  # signed by us: well-formed and shallow
    if data["q"] != query:
        raise InvalidArgumentError.of(
            field, "was issued for a different query; start again", reason=_BAD_TOKEN
        )
    position = data["p"]
    if len(position) != len(shape) or not all(map(_conforms, position, shape)):
        raise forged
    return list(position)


def page_size(requested: int, maximum: int, default: int = 50, field: str = "page_size") -> int:
    if requested < 0:
        raise InvalidArgumentError.of(field, "must not be negative")
    return min(requested or default, maximum)
