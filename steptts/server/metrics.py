"""Prometheus metrics of one server (prometheus_client, its own registry): requests, errors, queue
depth, busy workers, latency histograms and audio seconds served."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Histogram buckets of request and first-byte latency, in seconds."""


class Metrics:
    """The counters a server keeps; :meth:`render` gives Prometheus text."""

    def __init__(self, queue_depth, workers_busy) -> None:
        """``queue_depth`` and ``workers_busy`` are callables read at each scrape."""
        self.registry = CollectorRegistry()
        self.requests = Counter("steptts_requests", "HTTP requests answered, by path and status.",
                                ["path", "status"], registry=self.registry)
        self.errors = Counter("steptts_errors", "Requests answered with an error (status >= 400), by status.",
                              ["status"], registry=self.registry)
        self.latency = Histogram("steptts_request_seconds", "Time from request to last byte, seconds.",
                                 ["path"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.first_byte = Histogram("steptts_first_byte_seconds", "Time from request to first body byte, "
                                    "seconds.", ["path"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.audio = Counter("steptts_audio_seconds", "Seconds of audio served.", registry=self.registry)
        queue = Gauge("steptts_queue_depth", "Requests waiting for a worker.", registry=self.registry)
        queue.set_function(queue_depth)
        busy = Gauge("steptts_workers_busy", "Workers serving a request.", registry=self.registry)
        busy.set_function(workers_busy)

    def observe(self, path: str, status: int, total_s: float, first_byte_s: float | None,
                audio_s: float) -> None:
        """Record one finished request."""
        self.requests.labels(path, str(status)).inc()
        if status >= 400:
            self.errors.labels(str(status)).inc()
        self.latency.labels(path).observe(total_s)
        if first_byte_s is not None:
            self.first_byte.labels(path).observe(first_byte_s)
        self.audio.inc(audio_s)

    def render(self) -> bytes:
        """Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
