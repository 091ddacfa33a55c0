"""OpenTelemetry wiring: the only module that imports the SDK; the rest uses the API.

With exporter "none" no provider is installed and the API stays a no-op, so telemetry
costs nothing unless asked for. Tests pass their own in-memory exporter/reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

SERVICE_NAME = "prioscore"
_RESOURCE = Resource.create({"service.name": SERVICE_NAME})


class TelemetryUnavailableError(RuntimeError):
    """The requested exporter needs a package that is not installed."""


@dataclass
class Telemetry:
    """Providers installed by `configure`, so shutdown can flush them."""

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None

    def shutdown(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def configure(
    exporter: str = "none",
    *,
    prometheus: bool = False,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
) -> Telemetry:
    """Installs global providers for `exporter` (none | console | otlp) or the given ones.

    `prometheus` adds a reader that keeps the meters for a scrape (server/http/metrics.py
    serves them); with exporter "none" it is the only reader and no spans are recorded.
    """
    if exporter == "none" and span_exporter is None and metric_reader is None:
        if not prometheus:
            return Telemetry()
        return Telemetry(meter_provider=_meter_provider([_prometheus_reader()]))
    if span_exporter is not None:
        processor: SimpleSpanProcessor | BatchSpanProcessor = SimpleSpanProcessor(span_exporter)
    elif exporter == "console":
        processor = BatchSpanProcessor(ConsoleSpanExporter())
    else:
        processor = BatchSpanProcessor(_otlp_span_exporter())
    if metric_reader is None:
        metric_exporter = ConsoleMetricExporter() if exporter == "console" else _otlp_metrics()
        metric_reader = PeriodicExportingMetricReader(metric_exporter)
    readers = [metric_reader, *([_prometheus_reader()] if prometheus else [])]
    tracer_provider = TracerProvider(resource=_RESOURCE)
    tracer_provider.add_span_processor(processor)
    trace.set_tracer_provider(tracer_provider)
    return Telemetry(tracer_provider, _meter_provider(readers))


def _meter_provider(readers: list[MetricReader]) -> MeterProvider:
    provider = MeterProvider(resource=_RESOURCE, metric_readers=readers)
    metrics.set_meter_provider(provider)
    return provider


def _prometheus_reader() -> MetricReader:
    """Registers with prometheus_client's default registry, which the endpoint serves."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    return PrometheusMetricReader()


def _otlp_span_exporter() -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as error:  # optional: opentelemetry-exporter-otlp
        raise TelemetryUnavailableError(
            "telemetry=otlp needs the opentelemetry-exporter-otlp package"
        ) from error
    return OTLPSpanExporter()  # type: ignore[no-any-return]


def _otlp_metrics():  # type: ignore[no-untyped-def]
    try:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    except ImportError as error:
        raise TelemetryUnavailableError(
            "telemetry=otlp needs the opentelemetry-exporter-otlp package"
        ) from error
    return OTLPMetricExporter()
