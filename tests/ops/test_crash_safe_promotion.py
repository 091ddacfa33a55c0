"""kill -9 at each named moment of PromoteProfile (PRIOSCORE_CRASH_AT makes the server
os._exit right there), then a restart: one version fully in force (the file, every stored
score, the readers' rescoring, the shadow present iff not promoted), and a retried
promote answers success with the promotion's answer."""

from __future__ import annotations

import re
import shutil
import sqlite3
import tomllib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import grpc
import pytest

from prioscore.v1 import (
    event_service_pb2_grpc,
    profile_service_pb2_grpc,
    scoring_service_pb2_grpc,
    types_pb2,
)
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import scoring_service_pb2 as sc
from tests.ops.conftest import PROFILES, ServerFactory, ServerProcess, ingest_request

pytestmark = pytest.mark.slow

LEAD, READER = "lead_qualification", "account_engagement"
PER_ACCOUNT = 100  # contacts per account
BATCH = 5_000  # events per ingest request
# Moment -> the version a restart must show in force (before the commit: 1, after: 2).
MOMENTS = {
    "promote:started": 1,  # the intent committed, nothing else
    "promote:moving": 1,  # inside the transaction: the first chunk of scores written
    "promote:file_written": 1,  # the new file in place, the transaction not committed
    "promote:scores_done": 2,  # committed; the registry not swapped, readers not rescored
    "promote:readers": 2,  # some readers rescored
    "promote:complete": 2,  # all done, the answer not sent
}


def _events(contacts: int) -> Iterator[types_pb2.Event]:
    """One /pricing visit per contact, each contact in an account, each account known."""
    for a in range(contacts // PER_ACCOUNT):
        yield types_pb2.Event(
            message_id=f"ia{a}", kind=types_pb2.EVENT_KIND_IDENTIFY, entity_id=f"a{a:04d}",
            entity_kind="account",
        )  # fmt: skip
    for c in range(contacts):
        contact, account = f"c{c:06d}", f"a{c // PER_ACCOUNT:04d}"
        yield types_pb2.Event(
            message_id=f"g{c}", kind=types_pb2.EVENT_KIND_GROUP, entity_id=contact,
            entity_kind="contact", account_id=account,
        )  # fmt: skip
        yield types_pb2.Event(
            message_id=f"v{c}", kind=types_pb2.EVENT_KIND_TRACK, entity_id=contact,
            entity_kind="contact", event="page_view", properties={"url": "/pricing"},
        )  # fmt: skip


def _ingest(server: ServerProcess, contacts: int) -> None:
    events = list(_events(contacts))
    batches = (ingest_request(events[i : i + BATCH]) for i in range(0, len(events), BATCH))
    with server.channel() as channel:
        event_service_pb2_grpc.EventServiceStub(channel).IngestEvents(batches, timeout=120)


def as_version_one(path: Path) -> None:
    """The copy served starts at version 1, whatever the bundled version is, so the
    moments below read as "v1 or v2 in force"."""
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^version = \d+", "version = 1", text, count=1))


def _candidate(directory: Path) -> str:
    """lead_qualification v2: a pricing visit counts double (so every account moves)."""
    text = (directory / f"{LEAD}.toml").read_text()
    candidate = text.replace("version = 1", "version = 2", 1)
    candidate = candidate.replace("weight = 8\ncap = 32", "weight = 16\ncap = 32", 1)
    assert candidate.count("version = 2") == 1 and "weight = 16" in candidate
    return candidate


def _query(db: Path, sql: str, *params: object) -> list[tuple]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def _reader_scores(db: Path) -> dict[str, float]:
    rows = _query(db, "SELECT entity_id, score FROM scores WHERE profile = ?", READER)
    return dict(rows)


def _fresh_reader_scores(server: ServerProcess, accounts: list[str]) -> dict[str, float]:
    """The readers scored now from what is stored (the promoted profile's scores)."""
    with server.channel() as channel:
        stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        request = sc.ScoreEntitiesRequest(
            profile=READER, stored=sc.StoredEntities(entity_ids=accounts)
        )
        return {s.entity_id: s.score for s in stub.ScoreEntities(request, timeout=60).scores}


def _promote(server: ServerProcess) -> pb.PromoteProfileResponse:
    with server.channel() as channel:
        stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
        request = pb.PromoteProfileRequest(name=LEAD, shadow_version=2)
        response: pb.PromoteProfileResponse = stub.PromoteProfile(request, timeout=120)
        return response


def _assert_in_force(
    server: ServerProcess, directory: Path, version: int, contacts: int, before: dict[str, float]
) -> None:
    """`version` of lead_qualification fully in force, read from the file, the database
    and the running server."""
    db = server.db
    text = (directory / f"{LEAD}.toml").read_text()
    assert tomllib.loads(text)["profile"]["version"] == version
    stored = _query(
        db, "SELECT profile_version, COUNT(*) FROM scores WHERE profile = ? GROUP BY 1", LEAD
    )
    assert stored == [(version, contacts)]
    shadow_rows = _query(db, "SELECT COUNT(*) FROM scores WHERE profile = ?", LEAD + "@shadow")
    staged = _query(db, "SELECT COUNT(*) FROM shadow_profiles WHERE name = ?", LEAD)
    assert (shadow_rows[0][0], staged[0][0]) == ((contacts, 1) if version == 1 else (0, 0))
    intents = _query(db, "SELECT version, state FROM promotions WHERE name = ?", LEAD)
    assert intents == ([] if version == 1 else [(2, "complete")])
    with server.channel() as channel:
        profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
        listed = profiles.GetProfile(pb.GetProfileRequest(name=LEAD), timeout=10).profile
    assert (listed.version, listed.shadow_version) == (version, 2 if version == 1 else 0)
    # The readers: stored as scored from the promoted scores, moved iff promoted.
    readers = _reader_scores(db)
    assert set(readers) == set(before) and len(readers) == contacts // PER_ACCOUNT
    fresh = _fresh_reader_scores(server, sorted(readers))
    for account, score in readers.items():
        assert score == pytest.approx(fresh[account], rel=1e-4)
        assert (score == pytest.approx(before[account], rel=1e-4)) == (version == 1)
    promoted_points = _query(
        db,
        "SELECT COUNT(DISTINCT entity_id) FROM score_history WHERE profile = ? AND cause = ?",
        READER,
        "promotion",
    )
    assert promoted_points[0][0] == (0 if version == 1 else len(readers))


def _crash_and_recover(
    server_process: ServerFactory, tmp_path: Path, moment: str, contacts: int
) -> None:
    directory = tmp_path / "profiles"
    shutil.copytree(PROFILES, directory)
    as_version_one(directory / f"{LEAD}.toml")
    args = ("--profiles", str(directory))
    server = server_process(None, *args, env={"PRIOSCORE_CRASH_AT": moment})
    _ingest(server, contacts)
    with server.channel() as channel:
        profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
        request = pb.StageProfileRequest(toml=_candidate(directory), filename="lead_v2.toml")
        assert profiles.StageProfile(request, timeout=120).entities_scored == contacts
    before = _reader_scores(server.db)

    with pytest.raises(grpc.RpcError) as lost:
        _promote(server)
    assert lost.value.code() == grpc.StatusCode.UNAVAILABLE  # the process died
    assert server.wait(30) == 137 and f"crash point {moment}" in server.log()

    restarted = server_process(server.db, *args)
    _assert_in_force(restarted, directory, MOMENTS[moment], contacts, before)

    # The client retries (it never heard): the same answer whether the crash undid the
    # promotion (it runs now) or it committed (answered again, not NOT_FOUND).
    retried = _promote(restarted)
    assert (retried.profile.version, retried.previous_version) == (2, 1)
    assert retried.entities_scored == contacts
    _assert_in_force(restarted, directory, 2, contacts, before)
    assert _promote(restarted) == retried  # and again: a replay changes nothing


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_a_promotion_killed_at_any_moment_is_whole_after_restart(
    server_process: ServerFactory, tmp_path: Path, moment: str
) -> None:
    _crash_and_recover(server_process, tmp_path, moment, contacts=2_000)


@pytest.mark.parametrize(
    "moment", ["promote:started", "promote:moving", "promote:scores_done", "promote:readers"]
)
def test_a_promotion_of_50k_entities_killed_before_during_or_after_its_commit_is_whole(
    server_process: ServerFactory, tmp_path: Path, moment: str
) -> None:
    """At the issue's size: before the commit (undone), inside it (undone), after it
    (finished on restart: the readers rescored)."""
    _crash_and_recover(server_process, tmp_path, moment, contacts=50_000)
