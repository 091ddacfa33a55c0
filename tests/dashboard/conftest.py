"""Dashboard fixtures: a real prioscore server with demo data, the real dashboard on
uvicorn in a thread (both on loopback), and headless Debian Chromium through selenium.

Time is the server's injectable clock: the demo is generated as of T0 and the clock is
moved a day at a time, so every entity has history at real, distinct times.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from prioscore.clients import PrioscoreClient
from prioscore.clients.cli.synthetic import generate
from prioscore.clients.dashboard import DashboardSettings, create_app
from tests.conftest import ServerHandle

T0 = 1_900_000_000.0
DAY = 86_400.0
DEMO_DAYS = 4
COUNTS = {"contact": 40, "account": 16, "subscription": 16, "ticket": 16}
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@dataclass
class Demo:
    handle: ServerHandle
    client: PrioscoreClient


def load_demo(handle: ServerHandle) -> PrioscoreClient:
    """Demo events for every bundled profile as of T0, DEMO_DAYS days of clock, then a
    second wave of events."""
    handle.clock.set(T0)
    handle.settle()
    client = PrioscoreClient(handle.target, timeout=30)
    loaded = [client.get_profile(p.name) for p in client.list_profiles()]
    client.ingest(generate(loaded, COUNTS, seed=5, now=T0))
    for day in range(1, DEMO_DAYS + 1):
        handle.clock.set(T0 + day * DAY)
        handle.settle()
    # A second wave of behaviour: entities rescored by events again, so their history
    # has points at two real times (time alone keeps a capped score where it was).
    client.ingest(generate(loaded, COUNTS, seed=6, now=T0 + DEMO_DAYS * DAY))
    return client


@pytest.fixture
def demo(grpc_server: ServerHandle) -> Iterator[Demo]:
    client = load_demo(grpc_server)
    yield Demo(grpc_server, client)
    client.close()


@dataclass
class RunningDashboard:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def start_dashboard(settings: DashboardSettings) -> RunningDashboard:
    """The app on uvicorn, on a loopback socket this process bound (port 0: free)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(300):  # bounded: uvicorn flips `started` once it listens
        if server.started:
            started.set()
            break
        started.wait(0.02)
    assert server.started, "the dashboard did not start"
    return RunningDashboard(f"http://127.0.0.1:{port}", server, thread)


def stop_dashboard(running: RunningDashboard) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=30)


@pytest.fixture
def dashboard_factory() -> Iterator[Callable[[DashboardSettings], RunningDashboard]]:
    started: list[RunningDashboard] = []

    def start(settings: DashboardSettings) -> RunningDashboard:
        started.append(start_dashboard(settings))
        return started[-1]

    yield start
    for running in started:
        stop_dashboard(running)


@pytest.fixture
def dashboard(
    demo: Demo, dashboard_factory: Callable[[DashboardSettings], RunningDashboard]
) -> RunningDashboard:
    return dashboard_factory(DashboardSettings(demo.handle.target, page_size=10))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Debian Chromium with a fresh profile and no background networking."""
    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), (
        "browser tests need Debian's chromium and chromium-driver: .ci/chromium installs them"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def next_version(toml: str) -> str:
    """The profile text with its version one higher (a stageable candidate)."""
    found = re.search(r"(?m)^version = (\d+)", toml)
    assert found is not None, "no version line"
    return re.sub(r"(?m)^version = \d+", f"version = {int(found.group(1)) + 1}", toml, count=1)
