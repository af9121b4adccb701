"""Prometheus metrics (default registry). Other parts increment these; ``/metrics`` serves them.

- ``CHECKS_BY_OUTCOME.labels(outcome="clear", source="api").inc()``: the checks route,
  once per single check settled (clear, barred, under_review, incomplete), in this process.
- ``vbs_checks_total{source="batch"}``: batch rows, counted by the RQ workers (other
  processes) in Redis (:mod:`batch.metrics`); ``/metrics`` reads them at scrape time into
  ``BATCH_CHECKS`` and serves them in the same family.
- ``QUEUE_DEPTH`` is set at scrape time from ``AppState.queue_depth`` when the queue part
  provides it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "vbs_http_requests_total", "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "vbs_http_request_duration_seconds", "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip
# Registered through ChecksCollector below (one family, both sources), not directly.
CHECKS_BY_OUTCOME = Counter(
    "vbs_checks_total",
    "Checks by outcome and source (api: single checks in this process; "
    "batch: rows matched by every batch worker, shared through Redis)",
    ["outcome", "source"],
    registry=None,
)


class ChecksCollector(Collector):
    """``vbs_checks_total``: this process's single checks, plus the batch rows' counts last
    read from Redis (``set_batch``, at scrape time), as ``source="batch"`` samples."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch: dict[str, int] = {}

    def set_batch(self, counts: Mapping[str, int]) -> None:
        with self._lock:
            self._batch = dict(counts)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            batch = sorted(self._batch.items())
        for metric in CHECKS_BY_OUTCOME.collect():
            for outcome, n in batch:
                metric.add_sample(
                    "vbs_checks_total", {"outcome": outcome, "source": "batch"}, float(n)
                )
            yield metric


BATCH_CHECKS = ChecksCollector()
REGISTRY.register(BATCH_CHECKS)
QUEUE_DEPTH = Gauge("vbs_queue_depth", "Jobs waiting, by queue", ["queue"])


class MetricsMiddleware:
    """Count requests and time them, labelled by route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            method = str(scope.get("method", ""))
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - start)
