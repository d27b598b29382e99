"""What the OpenTelemetry SDK's in-memory exporter and reader collected in a test, and questions
asked of it (see the ``telemetry`` fixture)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Recorded:
    """Spans and metrics asyncjobs emitted in one test."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The spans ended so far (named ``name``), in the order they ended."""
        found = list(self.exporter.get_finished_spans())
        return [s for s in found if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one span named ``name``."""
        [found] = self.spans(name)
        return found

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """Each data point of ``metric``: its attributes and its value (a counter's sum, a
        histogram's count)."""
        data = self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data is not None else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name != metric:
                        continue
                    for p in m.data.data_points:
                        value = getattr(p, "value", None)
                        if value is None:
                            value = p.count
                        out.append((dict(p.attributes), value))
        return out

    def total(self, metric: str, where: dict[str, Any] | None = None) -> Any:
        """The sum of ``metric``'s values over the points whose attributes include ``where``."""
        wanted = where or {}
        return sum(
            v
            for attrs, v in self.points(metric)
            if all(attrs.get(k) == w for k, w in wanted.items())
        )

    def texts(self) -> list[str]:
        """Every string the spans and metrics carry: names, attribute values, event attributes,
        status descriptions, metric attribute values (for the secret canary)."""
        out: list[str] = []
        for s in self.spans():
            out.append(s.name)
            out += [str(v) for v in (s.attributes or {}).values()]
            for e in s.events:
                out += [str(v) for v in (e.attributes or {}).values()]
            if s.status.description:
                out.append(s.status.description)
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data is not None else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        out += [str(v) for v in p.attributes.values()]
        return out

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
