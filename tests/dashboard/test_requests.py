"""The dashboard over plain HTTP: bad query parameters are 400s naming them, unknown
things 404, static assets come from the package, and auth is respected end to end."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from prioscore.clients import PrioscoreClient
from prioscore.clients.dashboard import DashboardSettings
from tests.conftest import ServerHandle
from tests.dashboard.conftest import RunningDashboard, next_version

TOKEN = "dashboard-reader-token"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/profiles/lead_qualification?min_score=abc", "min_score: not a number"),
        ("/profiles/lead_qualification?min_score=101", "min_score: must be within 0-100"),
        ("/profiles/lead_qualification?page_size=0", "page_size: must be within 1-200"),
        ("/profiles/lead_qualification?tier=lukewarm", "tier: unknown tier &#39;lukewarm&#39;"),
        ("/profiles/lead_qualification?page=bm90LWEtdG9rZW4", "page: "),
        ("/at-risk?days=-3", "days: must be within 1-365"),
        ("/at-risk?profile=nope", "profile: unknown profile &#39;nope&#39;"),
        ("/feed?tier=nope", "tier: unknown tier"),
        ("/feed/events?profile=nope", "profile: unknown profile"),
        ("/profiles/lead_qualification/shadow?k=x", "k: not a whole number"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(
    dashboard: RunningDashboard, path: str, named: str
) -> None:
    status, body = get(dashboard.url + path)
    assert status == 400, body
    assert named in body


def test_unknown_profile_and_entity_are_404(dashboard: RunningDashboard) -> None:
    status, body = get(dashboard.url + "/profiles/nope")
    assert status == 404 and "nope" in body
    status, body = get(dashboard.url + "/entities/nobody-at-all")
    assert status == 404 and "nobody-at-all" in body


def test_the_chart_library_and_its_licence_are_served_from_the_package(
    dashboard: RunningDashboard,
) -> None:
    status, script = get(dashboard.url + "/static/uPlot.iife.min.js")
    assert status == 200 and "uPlot" in script
    status, licence = get(dashboard.url + "/static/uPlot.LICENSE")
    assert status == 200 and "MIT License" in licence
    _, page = get(dashboard.url + "/entities/account-0001")
    assert "http://" not in page.replace(dashboard.url, "") and "https://" not in page


@pytest.fixture
def token_server(start_grpc_server: Callable[..., ServerHandle], tmp_path: Path) -> ServerHandle:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        f'[[tokens]]\nname = "dashboard"\ntoken = "{TOKEN}"\nscopes = ["score:read"]\n'
        '[[tokens]]\nname = "loader"\ntoken = "loader-token"\nscopes = ["admin"]\n'
    )
    return start_grpc_server(tokens_file=tokens)


def test_without_a_token_a_server_requiring_one_shows_only_a_message(
    token_server: ServerHandle,
    dashboard_factory: Callable[[DashboardSettings], RunningDashboard],
) -> None:
    bare = dashboard_factory(DashboardSettings(token_server.target))
    for path in ("/", "/profiles/lead_qualification", "/at-risk", "/feed", "/entities/x"):
        status, body = get(bare.url + path)
        assert status == 401, path
        assert "requires a bearer token" in body and "--token" in body
        assert "lead_qualification" not in body, f"{path} leaked data without a token"
    status, _ = get(bare.url + "/feed/events")
    assert status == 401
    given = dashboard_factory(DashboardSettings(token_server.target, token=TOKEN))
    status, body = get(given.url + "/")
    assert status == 200 and "lead_qualification" in body
    status, body = get(given.url + "/profiles/lead_qualification/shadow")
    assert status == 200  # no candidate staged: CompareProfiles (admin) is not called


def test_a_token_without_the_admin_scope_gets_a_clear_403_on_the_comparison(
    token_server: ServerHandle,
    dashboard_factory: Callable[[DashboardSettings], RunningDashboard],
) -> None:
    loader = PrioscoreClient(token_server.target, token="loader-token", timeout=30)
    toml = loader.get_profile("lead_qualification").toml
    loader.stage_profile(next_version(toml))
    loader.close()
    given = dashboard_factory(DashboardSettings(token_server.target, token=TOKEN))
    status, body = get(given.url + "/profiles/lead_qualification/shadow")
    assert status == 403 and "admin" in body


def test_the_sse_stream_starts_with_ready(dashboard: RunningDashboard) -> None:
    with urllib.request.urlopen(dashboard.url + "/feed/events", timeout=20) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = [response.readline().decode() for _ in range(3)]
    assert first[0] == "event: ready\n" and json.loads(first[1].removeprefix("data: ")) == {}
