"""Transport security, bearer tokens with scopes, and per-request limits on a real server.

Certificates are made per test run with the openssl CLI (the `cryptography` package is not
a dependency); without openssl the TLS tests skip and say so.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import (
    event_service_pb2_grpc,
    profile_service_pb2,
    profile_service_pb2_grpc,
    scoring_service_pb2_grpc,
    types_pb2,
)
from prioscore.v1 import scoring_service_pb2 as sc
from tests.conftest import PROFILES, ServerHandle
from tests.ops.conftest import page_view
from tests.rpc.conftest import field_violations

Start = Callable[..., ServerHandle]
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl CLI is not on PATH, so no test certificates"
)


# -- certificates --------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _key_and_csr(name: str, subject: str, cwd: Path) -> None:
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=cwd,
    )  # fmt: skip


def _sign(name: str, ca: str, extensions: str, cwd: Path) -> None:
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
        cwd=cwd,
    )  # fmt: skip


def _ca(name: str, cwd: Path) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem; server.{pem,key} for 127.0.0.1; client.{pem,key} from the same CA;
    stranger.{pem,key} from another CA."""
    if OPENSSL is None:
        pytest.skip("the openssl CLI is not on PATH, so no test certificates")
    where = tmp_path_factory.mktemp("certs")
    _ca("ca", where)
    _ca("other-ca", where)
    _key_and_csr("server", "/CN=localhost", where)
    _sign(
        "server",
        "ca",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        where,
    )
    for name, ca in (("client", "ca"), ("stranger", "other-ca")):
        _key_and_csr(name, f"/CN={name}", where)
        _sign(name, ca, "extendedKeyUsage=clientAuth\n", where)
    return where


def _read(certs: Path, name: str) -> bytes:
    return (certs / name).read_bytes()


def _health(channel: grpc.Channel) -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status


@needs_openssl
def test_tls_client_connects_and_plaintext_client_does_not(start_grpc_server: Start, certs: Path):
    handle = start_grpc_server(tls_cert=certs / "server.pem", tls_key=certs / "server.key")
    credentials = grpc.ssl_channel_credentials(root_certificates=_read(certs, "ca.pem"))
    with grpc.secure_channel(handle.target, credentials) as channel:
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
        reply = profile_service_pb2_grpc.ProfileServiceStub(channel).ListProfiles(
            profile_service_pb2.ListProfilesRequest(), timeout=5
        )
        assert len(reply.profiles) == len(list(PROFILES.glob("*.toml")))
    with grpc.insecure_channel(handle.target) as channel, pytest.raises(grpc.RpcError) as caught:
        _health(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@needs_openssl
def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
    start_grpc_server: Start, certs: Path
) -> None:
    handle = start_grpc_server(
        tls_cert=certs / "server.pem",
        tls_key=certs / "server.key",
        tls_client_ca=certs / "ca.pem",
    )
    ca = _read(certs, "ca.pem")
    refused = [
        grpc.ssl_channel_credentials(root_certificates=ca),  # no client certificate
        grpc.ssl_channel_credentials(  # a certificate from a CA the server does not trust
            root_certificates=ca,
            private_key=_read(certs, "stranger.key"),
            certificate_chain=_read(certs, "stranger.pem"),
        ),
    ]
    for credentials in refused:
        with grpc.secure_channel(handle.target, credentials) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                _health(channel)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    trusted = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=_read(certs, "client.key"),
        certificate_chain=_read(certs, "client.pem"),
    )
    with grpc.secure_channel(handle.target, trusted) as channel:
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
        reply = scoring_service_pb2_grpc.ScoringServiceStub(channel).RankEntities(
            sc.RankEntitiesRequest(profile="lead_qualification"), timeout=5
        )
        assert reply.total_size == 0


@needs_openssl
def test_mutual_tls_allow_list_admits_only_named_clients(
    start_grpc_server: Start, certs: Path
) -> None:
    tls = dict(
        tls_cert=certs / "server.pem", tls_key=certs / "server.key", tls_client_ca=certs / "ca.pem"
    )
    client = grpc.ssl_channel_credentials(
        root_certificates=_read(certs, "ca.pem"),
        private_key=_read(certs, "client.key"),
        certificate_chain=_read(certs, "client.pem"),
    )
    rank = sc.RankEntitiesRequest(profile="lead_qualification")
    for names, expected in (("client", grpc.StatusCode.OK), ("billing, crm", "denied")):
        handle = start_grpc_server(**tls, tls_client_names=names)
        with grpc.secure_channel(handle.target, client) as channel:
            assert _health(channel) == health_pb2.HealthCheckResponse.SERVING  # probes open
            stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
            if expected == grpc.StatusCode.OK:
                assert stub.RankEntities(rank, timeout=5).total_size == 0
            else:
                with pytest.raises(grpc.RpcError) as caught:
                    stub.RankEntities(rank, timeout=5)
                assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


# -- bearer tokens -------------------------------------------------------------------------

TOKENS = {"writer": "w-secret", "reader": "r-secret", "admin": "a-secret"}


@pytest.fixture
def token_server(start_grpc_server: Start, tmp_path: Path) -> ServerHandle:
    admin_digest = hashlib.sha256(TOKENS["admin"].encode()).hexdigest()
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        f"""
[[tokens]]
name = "writer"
token = "{TOKENS["writer"]}"
scopes = ["events:write"]

[[tokens]]
name = "reader"
token = "{TOKENS["reader"]}"
scopes = ["score:read"]

[[tokens]]
name = "admin"
sha256 = "{admin_digest}"
scopes = ["admin"]
"""
    )
    return start_grpc_server(tokens_file=tokens)


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return, attr-defined]
    return grpc.StatusCode.OK


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def test_bearer_tokens_and_scopes(token_server: ServerHandle) -> None:
    with token_server.channel() as channel:
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        events = event_service_pb2_grpc.EventServiceStub(channel)
        profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
        rank = sc.RankEntitiesRequest(profile="lead_qualification")
        batch = ev.IngestEventsRequest(events=[page_view("auth-1", "c1")])
        watch = sc.WatchTierChangesRequest(profile="lead_qualification")

        def rank_as(*metadata: tuple[str, str]) -> Callable[[], object]:
            return lambda: scoring.RankEntities(rank, metadata=metadata, timeout=5)

        def ingest_as(*metadata: tuple[str, str]) -> Callable[[], object]:
            return lambda: events.IngestEvents(iter([batch]), metadata=metadata, timeout=5)

        def reload_as(*metadata: tuple[str, str]) -> Callable[[], object]:
            request = profile_service_pb2.ReloadProfilesRequest()
            return lambda: profiles.ReloadProfiles(request, metadata=metadata, timeout=5)

        def watch_as(*metadata: tuple[str, str]) -> Callable[[], object]:
            return lambda: next(scoring.WatchTierChanges(watch, metadata=metadata, timeout=5))

        unauthenticated = grpc.StatusCode.UNAUTHENTICATED
        # No token, a wrong token, a malformed header: every call shape is refused.
        for call in (rank_as(), ingest_as(), reload_as(), watch_as()):
            assert _code(call) == unauthenticated
        assert _code(rank_as(*_bearer("nope"))) == unauthenticated
        assert _code(ingest_as(("authorization", TOKENS["writer"]))) == unauthenticated
        assert _reason(rank_as(*_bearer("nope"))) == "TOKEN_UNKNOWN"
        assert _reason(rank_as()) == "TOKEN_MISSING"
        # A valid token without the method's scope.
        denied = grpc.StatusCode.PERMISSION_DENIED
        assert _code(rank_as(*_bearer(TOKENS["writer"]))) == denied
        assert _code(reload_as(*_bearer(TOKENS["reader"]))) == denied
        assert _code(ingest_as(*_bearer(TOKENS["reader"]))) == denied
        assert _reason(reload_as(*_bearer(TOKENS["reader"]))) == "SCOPE_MISSING"
        # The right scope works; admin covers everything (the digest-only entry).
        assert _code(ingest_as(*_bearer(TOKENS["writer"]))) == grpc.StatusCode.OK
        assert _code(rank_as(*_bearer(TOKENS["reader"]))) == grpc.StatusCode.OK
        assert _code(rank_as(("authorization", f"bearer  {TOKENS['reader']} "))) == (
            grpc.StatusCode.OK
        )
        assert _code(reload_as(*_bearer(TOKENS["admin"]))) == grpc.StatusCode.OK
        assert _code(ingest_as(*_bearer(TOKENS["admin"]))) == grpc.StatusCode.OK
        # Nothing the refused writes carried was stored.
        assert token_server.call(token_server.service.store.count_events) == 1
        # Health and reflection stay open for probes and tooling.
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        listed = next(
            reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            )
        )
        names = {s.name for s in listed.list_services_response.service}
        assert "prioscore.v1.ScoringService" in names


# -- per-request limits --------------------------------------------------------------------


def test_oversize_message_is_resource_exhausted(start_grpc_server: Start) -> None:
    handle = start_grpc_server(max_message_bytes=64 * 1024)
    big = [page_view(f"big-{i}", "c1", url="/pricing/" + "x" * 200) for i in range(400)]
    with handle.channel() as channel:
        events = event_service_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            events.IngestEvents(iter([ev.IngestEventsRequest(events=big)]), timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        inline = sc.ScoreEntitiesRequest(
            profile="lead_qualification", inline_events=sc.InlineEvents(events=big)
        )
        with pytest.raises(grpc.RpcError) as caught:
            scoring.ScoreEntities(inline, timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # A message under the limit on the same channel still goes through.
        small = ev.IngestEventsRequest(events=big[:10])
        assert events.IngestEvents(iter([small]), timeout=10).accepted == 10
    assert handle.call(handle.service.store.count_events) == 10


def test_too_many_events_in_one_message_names_the_field(start_grpc_server: Start) -> None:
    handle = start_grpc_server(max_events_per_request=5)
    six = [page_view(f"six-{i}", "c1") for i in range(6)]
    with handle.channel() as channel:
        events = event_service_pb2_grpc.EventServiceStub(channel)
        first = ev.IngestEventsRequest(events=six[:5])
        with pytest.raises(grpc.RpcError) as caught:
            events.IngestEvents(iter([first, ev.IngestEventsRequest(events=six)]), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == {"messages[1].events"}
        assert "exceed the limit 5" in field_violations(caught.value)["messages[1].events"]
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            scoring.ScoreEntities(
                sc.ScoreEntitiesRequest(
                    profile="lead_qualification", inline_events=sc.InlineEvents(events=six)
                ),
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == {"inline_events.events"}
    # The oversized message wrote nothing (the five before it were committed and acked
    # by no one: a client redelivers them and dedupe keeps them once).
    assert handle.call(handle.service.store.count_events) == 5


def test_too_many_stream_messages_is_resource_exhausted(start_grpc_server: Start) -> None:
    handle = start_grpc_server(max_stream_messages=3)
    lead = handle.running.handlers.registry.get("lead_qualification")
    assert lead is not None
    columns = len(lead.signals)
    matrix = types_pb2.Matrix(
        dtype=types_pb2.DTYPE_FLOAT64, shape=[1, columns], data=bytes(8 * columns)
    )
    with handle.channel() as channel:
        scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
        requests = [
            sc.StreamScoresRequest(profile="lead_qualification", sequence=i, features=matrix)
            for i in range(4)
        ]
        answered = []
        with pytest.raises(grpc.RpcError) as caught:
            for reply in scoring.StreamScores(iter(requests), timeout=10):
                answered.append(reply.sequence)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert answered == [0, 1, 2]
        # Exactly at the limit is fine.
        assert len(list(scoring.StreamScores(iter(requests[:3]), timeout=10))) == 3

        events = event_service_pb2_grpc.EventServiceStub(channel)
        stream = [ev.IngestEventsRequest(events=[page_view(f"s{i}", "c1")]) for i in range(4)]
        with pytest.raises(grpc.RpcError) as caught:
            events.IngestEvents(iter(stream), timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "3 messages" in (caught.value.details() or "")
