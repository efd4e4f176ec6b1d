"""Prometheus metrics; each app gets its own registry so tests can run several apps.

With several worker processes (`warden serve --workers N`) each process counts only the
requests it answered, so a scrape that lands on one worker would see a fraction of the
traffic. `warden serve` then sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start:
prometheus_client keeps every process's values in memory-mapped files there, and
``exposition`` sums counters and histograms over all workers (dead ones included, as
counters must) and reports each gauge's most recent value (every worker sets them from
the database, so the latest is right).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.shared_dir = os.environ.get(MULTIPROCESS_DIR) or None
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
                             registry=self.registry, multiprocess_mode="mostrecent")
        self.scans_deferred = Counter(
            "warden_scans_deferred", "Events scored without their files because their scan "
            "before scoring hit its budget or time limit (service.prescan)",
            registry=self.registry)
        self.breaker = Gauge("warden_breaker_paused", "1 when the scope is paused", ["scope"],
                             registry=self.registry, multiprocess_mode="mostrecent")
        self.breaker_cohorts = Gauge("warden_breaker_cohorts_paused",
                                     "Cohorts of the event type paused now", ["scope"],
                                     registry=self.registry, multiprocess_mode="mostrecent")
        self.breaker_changes = Counter("warden_breaker_changes", "Breaker state changes",
                                       ["action"], registry=self.registry)
        self.verdicts = Counter("warden_verdicts", "Verdicts recorded", ["verdict"],
                                registry=self.registry)

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's metrics, or every worker's together."""
        if self.shared_dir is None:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined, self.shared_dir)
        return generate_latest(combined)
