"""`--metrics-address host:port`: GET /metrics in Prometheus' text format.

Why prometheus_client's own HTTP server rather than a route in an ASGI app: the scrape
endpoint belongs on its own port (operators keep it private and unauthenticated, away
from the API), it must keep answering while the event loop is busy, and the OpenTelemetry
Prometheus exporter already feeds that library's registry; its threaded server is what
the exporter's documentation pairs it with, so no web framework is needed for it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

log = logging.getLogger("prioscore.http")


@dataclass
class MetricsEndpoint:
    """A started scrape endpoint: where it listens, and how to stop it."""

    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_endpoint(address: str) -> MetricsEndpoint:
    """Serves the default registry on address ("127.0.0.1:9464"; port 0 picks one)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    server, thread = start_http_server(int(port), addr=host)
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return MetricsEndpoint(server, thread, host, bound)
