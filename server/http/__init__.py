"""The only HTTP-aware server code: the Prometheus scrape endpoint (metrics.py) and the
Segment HTTP tracking API (segment_api.py, served by listener.py).

Nothing below this layer imports it; the composition root starts what is configured.
"""

from prioscore.server.http.listener import SegmentListener, start_segment_listener
from prioscore.server.http.metrics import MetricsEndpoint, start_metrics_endpoint
from prioscore.server.http.segment_api import Authorize, segment_app

__all__ = [
    "Authorize",
    "MetricsEndpoint",
    "SegmentListener",
    "segment_app",
    "start_metrics_endpoint",
    "start_segment_listener",
]
