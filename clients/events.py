"""Building Event messages: Segment-style track / identify / group, times, message ids.

Every event needs a message_id (the server's dedupe key, and what makes IngestEvents
safe to retry). The helpers take one when the caller has it. Otherwise:

* an event with a `time` gets an id derived from its content, time included, so sending
  the same event twice (a re-run import, a second process replaying a log) stores it
  once; two events identical to the nanosecond are taken to be one;
* an event without a time gets a fresh random id: three identical page views are three
  events, never silently merged. A retried stream still stores each once, because the
  id is fixed when the Event is built and a retry resends the same messages.

Give events a time (or your own message_id) when re-sending them must stay idempotent.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from prioscore.v1 import types_pb2

KINDS = {
    "track": types_pb2.EVENT_KIND_TRACK,
    "identify": types_pb2.EVENT_KIND_IDENTIFY,
    "group": types_pb2.EVENT_KIND_GROUP,
}
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
MILLISECONDS_ABOVE = 1e11


def new_message_id() -> str:
    return uuid.uuid4().hex


def epoch_seconds(when: datetime | float | int | str) -> float:
    """Seconds since the epoch from a datetime, a number (s, or ms above 1e11) or ISO text.

    Naive datetimes and ISO strings without an offset are taken as UTC, the only
    reading that gives the same answer on every machine.
    """
    if isinstance(when, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(when, int | float):
        seconds = float(when)
        if not math.isfinite(seconds):
            raise ValueError("time must be finite")
        return seconds / 1000.0 if abs(seconds) > MILLISECONDS_ABOVE else seconds
    if isinstance(when, str):
        text = when.strip()
        try:
            return epoch_seconds(float(text))
        except ValueError:
            pass
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def timestamp(when: datetime | float | int | str) -> Timestamp:
    seconds = epoch_seconds(when)
    whole = math.floor(seconds)
    return Timestamp(seconds=int(whole), nanos=round((seconds - whole) * 1e9) % 1_000_000_000)


def content_message_id(event: types_pb2.Event, salt: str = "") -> str:
    """A stable id from everything the event says (message_id itself excluded), and
    `salt` (e.g. a file position) for events that need more to tell them apart."""
    payload = {
        "s": salt,
        "k": event.kind,
        "e": event.entity_id,
        "n": event.event,
        "t": [event.time.seconds, event.time.nanos] if event.HasField("time") else None,
        "v": event.value if event.HasField("value") else None,
        "p": dict(sorted(event.properties.items())),
        "m": dict(sorted(event.metrics.items())),
        "tr": dict(sorted(event.traits.items())),
        "nt": dict(sorted(event.numeric_traits.items())),
        "a": event.account_id,
        "ek": event.entity_kind,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "h-" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def make_event(
    kind: str,
    entity_id: str,
    *,
    event: str = "",
    message_id: str = "",
    time: datetime | float | str | None = None,
    value: float | None = None,
    properties: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    traits: Mapping[str, str] | None = None,
    numeric_traits: Mapping[str, float] | None = None,
    account_id: str = "",
    entity_kind: str = "",
) -> types_pb2.Event:
    """An Event of kind track / identify / group with a message_id: the one given, else
    derived from the content when there is a time, else a fresh random one."""
    message = types_pb2.Event(
        kind=KINDS[kind],
        entity_id=entity_id,
        event=event,
        properties=properties or {},
        metrics=metrics or {},
        traits=traits or {},
        numeric_traits=numeric_traits or {},
        account_id=account_id,
        entity_kind=entity_kind,
    )
    if time is not None:
        message.time.CopyFrom(timestamp(time))
    if value is not None:
        message.value = float(value)
    if message_id:
        message.message_id = message_id
    elif message.HasField("time"):
        message.message_id = content_message_id(message)
    else:
        message.message_id = new_message_id()
    return message


def track(entity_id: str, event: str, **fields: object) -> types_pb2.Event:
    """Something the entity did ("page_view", "login"); scored by profile signals."""
    return make_event("track", entity_id, event=event, **fields)  # type: ignore[arg-type]


def identify(entity_id: str, **fields: object) -> types_pb2.Event:
    """Sets the entity's own attributes (traits / numeric_traits) and its kind."""
    return make_event("identify", entity_id, **fields)  # type: ignore[arg-type]


def group(entity_id: str, account_id: str, **fields: object) -> types_pb2.Event:
    """Joins the entity to an account; traits here describe the account."""
    return make_event("group", entity_id, account_id=account_id, **fields)  # type: ignore[arg-type]
