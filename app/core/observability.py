"""Prometheus metrics of one running platform (a registry per runtime, so tests can build several)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PlatformMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.readings_accepted = Counter("iaq_readings_accepted", "Readings stored", ["source"], registry=r)
        self.readings_duplicate = Counter(
            "iaq_readings_duplicate", "Readings already stored, not stored again", ["source"], registry=r
        )
        self.readings_rejected = Counter(
            "iaq_readings_rejected",
            "Readings refused (invalid, too large, ...)",
            ["source", "reason"],
            registry=r,
        )
        self.request_latency = Histogram(
            "iaq_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.commit_batch = Histogram(
            "iaq_commit_batch_readings",
            "Readings per group commit",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "iaq_commit_duration_seconds",
            "Duration of one group commit",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=r,
        )
        self.ws_subscribers = Gauge("iaq_ws_subscribers", "Open /ws connections", registry=r)
        self.ws_dropped = Counter(
            "iaq_ws_disconnected_slow", "/ws clients closed for not keeping up", registry=r
        )
        self.worker_up = Gauge(
            "iaq_worker_up", "1 when a background worker runs, 0 otherwise", ["worker"], registry=r
        )


def quiet_http_clients(level: str) -> None:
    """HTTP clients' request lines (httpx logs every InfluxDB write at INFO: most of the log) only at DEBUG;
    what an operator must know of a store is logged by the platform itself, once per change."""
    if logging.getLevelName(level.upper()) != logging.DEBUG:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
