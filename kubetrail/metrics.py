"""The service's counters, exposed at /metrics in the Prometheus text format.

Each app gets its own registry, so tests can run several services in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "kubetrail_events_received", "Events received by the intake.", registry=r
        )
        self.stored = Counter(
            "kubetrail_events_stored",
            "Events newly stored (retries of stored events are not counted).",
            registry=r,
        )
        self.rejected = Counter(
            "kubetrail_events_rejected", "Events refused, by reason.", ["reason"], registry=r
        )
        self.parse_errors = Counter(
            "kubetrail_parse_errors", "Events stored with kubetrail.parse_error.", registry=r
        )
        self.pending = Gauge(
            "kubetrail_writer_pending_events", "Events received and not yet committed.", registry=r
        )
        self.detection_lag = Gauge(
            "kubetrail_detection_lag_events",
            "Events committed and not yet examined by detection (embedded store; at most).",
            registry=r,
        )
        self.latency = Histogram(
            "kubetrail_request_seconds",
            "HTTP request latency.",
            ["route", "status"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.alerts = Counter("kubetrail_alerts", "Alert matches by level.", ["level"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
