"""Prometheus metrics; each app gets its own registry so tests can run several apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("warden_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "warden_http_request_seconds", "Time to answer an HTTP request", ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry)
        self.events = Counter("warden_events", "Events scored and stored", ["type", "decision"],
                              registry=self.registry)
        self.replays = Counter("warden_event_replays", "Events answered from storage (same id)",
                               registry=self.registry)
        self.pending = Gauge("warden_events_pending", "Events waiting for their code scan",
                             registry=self.registry)
        self.breaker = Gauge("warden_breaker_paused", "1 when the scope is paused", ["scope"],
                             registry=self.registry)
        self.breaker_changes = Counter("warden_breaker_changes", "Breaker state changes",
                                       ["action"], registry=self.registry)
        self.verdicts = Counter("warden_verdicts", "Verdicts recorded", ["verdict"],
                                registry=self.registry)
