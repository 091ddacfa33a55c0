"""Secure defaults: what an unprotected or exposed server refuses or warns about, the
scopes of erase and upsert, tokens that must not admit anyone, one authorization header,
no server paths in responses, and idle client streams closed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from prioscore.server.config import load_settings
from prioscore.server.rpc.auth import TokensFileError, load_tokens, security_warnings
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import (
    event_service_pb2_grpc,
    profile_service_pb2,
    profile_service_pb2_grpc,
    scoring_service_pb2_grpc,
    types_pb2,
)
from prioscore.v1 import scoring_service_pb2 as sc
from tests.conftest import ServerHandle
from tests.ops.conftest import page_view
from tests.ops.test_security import _bearer, _code, _reason

Start = Callable[..., ServerHandle]


@pytest.mark.parametrize("address", ["0.0.0.0:50051", "[::]:1", "10.1.2.3:1", "example.com:1"])
def test_an_exposed_address_needs_protection_or_insecure(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        load_settings(["--address", address], {})
    assert "--insecure" in capsys.readouterr().err
    settings = load_settings(["--address", address, "--insecure"], {})
    assert any("--insecure" in w for w in security_warnings(settings))
    assert load_settings(["--address", address], {"PRIOSCORE_INSECURE": "true"}).insecure


def test_an_open_loopback_server_warns_that_admin_calls_are_open() -> None:
    warnings = security_warnings(load_settings(["--address", "127.0.0.1:1"], {}))
    assert len(warnings) == 1 and "admin" in warnings[0]


@pytest.mark.parametrize(
    "entry",
    [
        'token = ""',
        'token = "   "',
        'sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',
        'sha256 = "abc"',
        'sha256 = "zz"',
    ],
)
def test_token_entries_that_would_admit_anyone_are_refused(tmp_path: Path, entry: str) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(f'[[tokens]]\nname = "x"\n{entry}\nscopes = ["admin"]\n')
    with pytest.raises(TokensFileError, match=r"tokens\[0\]"):
        load_tokens(tokens)


TOKENS = {"writer": "w-secret", "upserter": "u-secret", "eraser": "e-secret", "admin": "a-s"}


@pytest.fixture
def scoped_server(start_grpc_server: Start, tmp_path: Path) -> ServerHandle:
    tokens = tmp_path / "tokens.toml"
    scopes = {
        "writer": "events:write",
        "upserter": "entities:write",
        "eraser": "entities:erase",
        "admin": "admin",
    }
    tokens.write_text(
        "".join(
            f'[[tokens]]\nname = "{n}"\ntoken = "{TOKENS[n]}"\nscopes = ["{s}"]\n'
            for n, s in scopes.items()
        )
    )
    return start_grpc_server(tokens_file=tokens)


def test_erase_and_upsert_have_their_own_scopes(scoped_server: ServerHandle) -> None:
    with scoped_server.channel() as channel:
        events = event_service_pb2_grpc.EventServiceStub(channel)
        erase = ev.EraseEntityRequest(entity_id="c1")
        upsert = ev.UpsertEntitiesRequest(entities=[types_pb2.Entity(id="c1", kind="contact")])
        ingest = ev.IngestEventsRequest(events=[page_view("m1", "c1")])

        def as_(token: str, call: str) -> Callable[[], object]:
            md = _bearer(TOKENS[token])
            if call == "erase":
                return lambda: events.EraseEntity(erase, metadata=md, timeout=5)
            if call == "upsert":
                return lambda: events.UpsertEntities(upsert, metadata=md, timeout=5)
            return lambda: events.IngestEvents(iter([ingest]), metadata=md, timeout=5)

        denied, ok = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.OK
        assert _code(as_("writer", "ingest")) == ok
        assert _code(as_("writer", "erase")) == denied
        assert _code(as_("writer", "upsert")) == denied
        assert _code(as_("upserter", "erase")) == denied
        assert _code(as_("eraser", "upsert")) == denied
        assert scoped_server.call(scoped_server.service.store.count_events) == 1
        assert _code(as_("upserter", "upsert")) == ok
        assert _code(as_("eraser", "erase")) == ok
        assert scoped_server.call(scoped_server.service.store.count_events) == 0
        assert _code(as_("admin", "upsert")) == ok


def test_admin_calls_need_admin_and_headers_are_unambiguous(scoped_server: ServerHandle) -> None:
    with scoped_server.channel() as channel:
        profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
        reload = profile_service_pb2.ReloadProfilesRequest()

        def reload_with(*metadata: tuple[str, str]) -> Callable[[], object]:
            return lambda: profiles.ReloadProfiles(reload, metadata=metadata, timeout=5)

        assert _code(reload_with(*_bearer(TOKENS["writer"]))) == grpc.StatusCode.PERMISSION_DENIED
        assert _code(reload_with(("authorization", "Bearer "))) == grpc.StatusCode.UNAUTHENTICATED
        both = (*_bearer(TOKENS["writer"]), *_bearer(TOKENS["admin"]))
        assert _code(reload_with(*both)) == grpc.StatusCode.UNAUTHENTICATED
        assert _reason(reload_with(*both)) == "TOKEN_AMBIGUOUS"
        assert _code(reload_with(*_bearer(TOKENS["admin"]))) == grpc.StatusCode.OK


def test_profile_summaries_do_not_show_server_paths(grpc_server: ServerHandle) -> None:
    with grpc_server.channel() as channel:
        profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
        listed = profiles.ListProfiles(profile_service_pb2.ListProfilesRequest(), timeout=5)
        assert listed.profiles
        for summary in listed.profiles:
            assert "/" not in summary.source and summary.source.endswith(".toml")
        one = profiles.GetProfile(
            profile_service_pb2.GetProfileRequest(name=listed.profiles[0].name), timeout=5
        )
        assert "/" not in one.profile.source


def test_an_idle_client_stream_is_closed(start_grpc_server: Start) -> None:
    handle = start_grpc_server(stream_idle_seconds=0.5)
    release = threading.Event()

    def one_then_silence() -> Iterator[ev.IngestEventsRequest]:
        yield ev.IngestEventsRequest(events=[page_view("idle-1", "c1")])
        release.wait(30)  # the client goes quiet with the stream open

    try:
        with handle.channel() as channel:
            events = event_service_pb2_grpc.EventServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                events.IngestEvents(one_then_silence(), timeout=20)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "no message" in (caught.value.details() or "")
            # What it sent before going quiet was kept, and the server serves on.
            assert handle.call(handle.service.store.count_events) == 1
            rank = sc.RankEntitiesRequest(profile="lead_qualification")
            scoring_service_pb2_grpc.ScoringServiceStub(channel).RankEntities(rank, timeout=5)
    finally:
        release.set()


def test_a_protected_server_may_listen_anywhere(tmp_path: Path) -> None:
    cert, tokens = tmp_path / "cert.pem", tmp_path / "tokens.toml"
    cert.write_text("checked when the server starts")
    tokens.write_text('[[tokens]]\ntoken = "t"\nscopes = ["admin"]\n')
    argv = ["--address", "0.0.0.0:50051", "--tls-cert", str(cert), "--tls-key", str(cert)]
    settings = load_settings([*argv, "--tokens-file", str(tokens)], {})
    assert not settings.insecure and security_warnings(settings) == []
    with pytest.raises(SystemExit):  # TLS alone is not enough: anyone could still call
        load_settings(argv, {})


def test_an_idle_connection_is_closed(start_grpc_server: Start) -> None:
    """A connection with no call for connection_idle_seconds is closed by the server
    (GOAWAY): the client channel falls back to IDLE and reconnects for its next call."""
    handle = start_grpc_server(connection_idle_seconds=0.5)
    states: list[grpc.ChannelConnectivity] = []
    idle_again = threading.Event()

    def seen(state: grpc.ChannelConnectivity) -> None:
        states.append(state)
        if grpc.ChannelConnectivity.READY in states and state == grpc.ChannelConnectivity.IDLE:
            idle_again.set()

    with handle.channel() as channel:
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        rank = sc.RankEntitiesRequest(profile="lead_qualification")
        scoring.RankEntities(rank, timeout=5)
        channel.subscribe(seen, try_to_connect=False)
        assert idle_again.wait(20), states  # bounded: the server's idle timer, not ours
        scoring.RankEntities(rank, timeout=5)  # a closed connection costs a reconnect only
        channel.unsubscribe(seen)
