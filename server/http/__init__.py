"""The only HTTP-aware server code: the Prometheus scrape endpoint (metrics.py).

Nothing below this layer imports it; the composition root starts what is configured.
"""

from prioscore.server.http.metrics import MetricsEndpoint, start_metrics_endpoint

__all__ = ["MetricsEndpoint", "start_metrics_endpoint"]
