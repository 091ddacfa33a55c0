"""Segment calls (track, identify, group, page, screen, alias) as IncomingEvents.

Both ways in speak the Segment spec and share this translation, so they validate,
dedupe and store alike: the gRPC IngestSegment RPC (one JSON object per message) and the
HTTP tracking API in server/http (/v1/track ... /v1/batch). Each call becomes one stored
event, and Service.ingest takes it from there (one transaction, rescoring at once):

- track: the event, its properties flattened to dot paths (`utm.source`) and its context
  under `context.` (`context.page.url`); `properties.value`, when a number, is its value.
- page / screen: an event named page_view / screen_view (the name the bundled profiles
  score), with the call's properties, `name`, `page_category` (a `category` key in a
  profile's match means its URL [[categories]], so the call's own category is renamed),
  `url` = the page path (what [[categories]] prefixes test; from properties.path, else
  the path of properties.url) and `href` = the full URL.
- identify: traits flattened become the entity's attributes; with both userId and
  anonymousId, the anonymous entity merges into the known one.
- group: the entity joins account groupId, whose attributes are the group's traits.
- alias: previousId merges into userId (store.identities has the merge rules).

The entity is userId, else anonymousId. Entities first named here get the configured
person kind; an account named by groupId gets the account kind (config.EntityKinds).

Times: see segment_fields.event_time. Late and out-of-order calls: a call is stored at
the time it happened, whenever it arrives; every score is computed from all stored
events as of now, so the order of arrival never changes a score (tests check shuffles).
Score history is not rewritten: a late event shows in the next point, not in old ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from prioscore.server.config import EntityKinds
from prioscore.server.errors import FieldViolation, InvalidArgumentError
from prioscore.server.handlers.requests import ALIAS, GROUP, IDENTIFY, TRACK, IncomingEvents
from prioscore.server.handlers.segment_fields import (
    NAN,
    content_message_id,
    event_time,
    flatten,
    parse_time,
)

PAGE_EVENT, SCREEN_EVENT = "page_view", "screen_view"
CALL_TYPES = ("track", "identify", "group", "page", "screen", "alias")
_KIND = {"track": TRACK, "page": TRACK, "screen": TRACK, "identify": IDENTIFY}
_KIND |= {"group": GROUP, "alias": ALIAS}
_MAX_VIOLATIONS = 100


def segment_events(
    messages: Sequence[Any],
    *,
    received_at: float,
    kinds: EntityKinds,
    sent_at: float = NAN,
    prefix: str = "batch",
) -> IncomingEvents:
    """Translates Segment calls (parsed JSON) into one IncomingEvents batch.

    received_at is when the transport received them (the server's clock), sent_at a
    batch-level sentAt (a message's own wins). Raises InvalidArgumentError naming the
    first bad field of every bad call, e.g. "batch[3].userId"; nothing is translated
    partially.
    """
    violations: list[FieldViolation] = []
    rows = []
    merges: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        where = f"{prefix}[{i}]"
        if type(message) is not dict:
            violations.append(FieldViolation(where, "must be a JSON object (a Segment call)"))
            continue
        try:
            row, merge = _translate(message, where, received_at, sent_at)
        except _Invalid as bad:
            violations.append(bad.violation)
            if len(violations) >= _MAX_VIOLATIONS:
                break
            continue
        rows.append(row)
        if merge is not None:
            merges.append(merge)
    if violations:
        raise InvalidArgumentError(violations)
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 10
    return IncomingEvents(
        message_id=list(cols[0]),
        kind=list(cols[1]),
        entity_id=list(cols[2]),
        event=list(cols[3]),
        ts=np.array(cols[4], dtype=np.float64),
        value=np.array(cols[5], dtype=np.float64),
        properties=list(cols[6]),
        metrics=list(cols[7]),
        traits=list(cols[8]),
        numeric_traits=list(cols[9]),
        account_id=[row[10] for row in rows],
        entity_kind=[""] * len(rows),  # stored kinds stay; new entities get the default
        field_prefix=prefix,
        merges=merges,
        new_entity_kind=kinds.segment_person,
    )


class _Invalid(Exception):
    def __init__(self, field: str, description: str) -> None:
        self.violation = FieldViolation(field, description)


def _text(message: dict[str, Any], key: str, where: str) -> str:
    """A string id field; Segment also accepts numbers for ids (sent as their text)."""
    value = message.get(key)
    if value is None:
        return ""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise _Invalid(f"{where}.{key}", "must be a string")


def _object(message: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = message.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise _Invalid(f"{where}.{key}", "must be a JSON object")
    return value


def _time(message: dict[str, Any], key: str, where: str, default: float = NAN) -> float:
    if key not in message:
        return default
    try:
        return parse_time(message[key])
    except ValueError as error:
        raise _Invalid(f"{where}.{key}", str(error)) from None


def _translate(
    message: dict[str, Any], where: str, received_at: float, sent_at: float
) -> tuple[tuple[Any, ...], tuple[str, str] | None]:
    call = message.get("type")
    if call not in CALL_TYPES:
        raise _Invalid(f"{where}.type", f"must be one of {', '.join(CALL_TYPES)}")
    user, anonymous = _text(message, "userId", where), _text(message, "anonymousId", where)
    entity = user or anonymous
    if not entity:
        raise _Invalid(f"{where}.userId", "userId or anonymousId is required")
    message_id = _text(message, "messageId", where) or content_message_id(message)
    ts = event_time(
        _time(message, "timestamp", where),
        _time(message, "originalTimestamp", where),
        _time(message, "sentAt", where, sent_at),
        _time(message, "receivedAt", where, received_at),
    )
    strings: dict[str, str] = {}
    numbers: dict[str, float] = {}
    traits: dict[str, str] = {}
    numeric_traits: dict[str, float] = {}
    event, account, merge, value = "", "", None, NAN
    if call in ("identify", "group"):
        flatten(_object(message, "traits", where), "", traits, numeric_traits)
        if call == "group":
            account = _text(message, "groupId", where)
            if not account:
                raise _Invalid(f"{where}.groupId", "required for group")
        elif user and anonymous and anonymous != user:
            merge = (anonymous, user)
    elif call == "alias":
        previous = _text(message, "previousId", where)
        if not previous:
            raise _Invalid(f"{where}.previousId", "required for alias")
        if not user:
            raise _Invalid(f"{where}.userId", "required for alias")
        merge = (previous, user)
    else:
        properties = _object(message, "properties", where)
        flatten(properties, "", strings, numbers)
        flatten(_object(message, "context", where), "context.", strings, numbers)
        raw = properties.get("value")
        if type(raw) is int or type(raw) is float:
            value = float(raw)
        if call == "track":
            named = message.get("event")
            if type(named) is not str or not named:
                raise _Invalid(f"{where}.event", "required for track (a non-empty string)")
            event = named
        else:
            event = PAGE_EVENT if call == "page" else SCREEN_EVENT
            _page_fields(message, where, strings)
    if not math.isfinite(ts):
        raise _Invalid(f"{where}.timestamp", "must be a valid time")
    row = (
        message_id,
        _KIND[call],
        entity,
        event,
        ts,
        value,
        strings,
        numbers,
        traits,
        numeric_traits,
        account,
    )
    return row, merge


def _page_fields(message: dict[str, Any], where: str, strings: dict[str, str]) -> None:
    """name, page_category, url (the path) and href (the full URL) of a page / screen."""
    for key, target in (("name", "name"), ("category", "page_category")):
        value = message.get(key)
        if value is not None:
            if type(value) is not str:
                raise _Invalid(f"{where}.{key}", "must be a string")
            strings[target] = value
    full = strings.pop("url", "") or strings.get("context.page.url", "")
    if full:
        strings["href"] = full
    path = strings.get("path") or strings.get("context.page.path") or urlsplit(full).path
    if path:
        strings["url"] = path


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes) -> Any:
    """JSON as Segment sends it; NaN / Infinity (which Python's json accepts) are refused,
    so no non-finite number reaches a score. Raises ValueError."""
    return json.loads(text, parse_constant=_no_constant)


def parse_calls(texts: Sequence[str], prefix: str, max_bytes: int) -> list[Any]:
    """Calls sent as one JSON text each (IngestSegment), checked against Segment's
    per-call size limit; every bad one is named at once."""
    violations: list[FieldViolation] = []
    calls: list[Any] = []
    for i, text in enumerate(texts):
        if len(text) > max_bytes // 4 and len(text.encode()) > max_bytes:
            violations.append(FieldViolation(f"{prefix}[{i}]", f"exceeds {max_bytes} bytes"))
            continue
        try:
            calls.append(parse_json(text))
        except ValueError as error:
            violations.append(FieldViolation(f"{prefix}[{i}]", f"not JSON: {error}"))
    if violations:
        raise InvalidArgumentError(violations[:_MAX_VIOLATIONS])
    return calls
