"""The field-level rules of Segment calls: nested objects to dot paths, ISO 8601 times,
Segment's clock-skew correction and the messageId a call without one gets.

Why dot paths: profiles match flat property names (`match = { "utm.source" = "ads" }`),
and the store reads one JSON key per property; flattening once on the way in keeps every
reader flat. Strings and booleans become string properties, numbers numeric ones, lists
their compact JSON text (one categorical value), nulls nothing.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from prioscore.server.handlers.json_text import compact_encoder

_COMPACT = compact_encoder(sort_keys=True)
NAN = math.nan


def flatten(
    obj: dict[str, Any], prefix: str, strings: dict[str, str], numbers: dict[str, float]
) -> None:
    """Adds obj's leaves to strings / numbers under dot paths starting with prefix."""
    for key, value in obj.items():
        name = prefix + key
        kind = type(value)
        if kind is str:
            strings[name] = value
        elif kind is bool:
            strings[name] = "true" if value else "false"
        elif kind is int or kind is float:
            numbers[name] = float(value)
        elif kind is dict:
            flatten(value, name + ".", strings, numbers)
        elif value is not None:
            strings[name] = _COMPACT(value)


def parse_time(value: Any) -> float:
    """Epoch seconds of an ISO 8601 time (no offset = UTC); NaN when absent; raises
    ValueError for anything else (Segment sends times only as ISO 8601 strings)."""
    if value is None:
        return NAN
    if type(value) is not str:
        raise ValueError("must be an ISO 8601 time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def event_time(timestamp: float, original: float, sent: float, received: float) -> float:
    """When the call happened, as Segment computes it.

    An explicit timestamp is the sender's claim and is kept (server libraries and
    historical imports set it). Otherwise the device clock's originalTimestamp is
    corrected for the device's skew: receivedAt - (sentAt - originalTimestamp), which
    needs sentAt; without it originalTimestamp stands. A call with neither happened
    when it was received.
    """
    if not math.isnan(timestamp):
        return timestamp
    if not math.isnan(original):
        return received - (sent - original) if not math.isnan(sent) else original
    return received


def content_message_id(message: dict[str, Any]) -> str:
    """A messageId from the call's content, for calls sent without one: redelivering the
    same call dedupes, as it would with the id the sender forgot."""
    return "sha1:" + hashlib.sha1(_COMPACT(message).encode()).hexdigest()
