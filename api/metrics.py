"""Prometheus metrics (default registry). Other parts increment these; ``/metrics`` serves them.

- ``CHECKS_BY_OUTCOME.labels(outcome="clear").inc()``: the checks service/route, once per
  check settled (clear, barred, under_review, incomplete).
- ``QUEUE_DEPTH`` is set at scrape time from ``AppState.queue_depth`` when the queue part
  provides it.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
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
CHECKS_BY_OUTCOME = Counter("vbs_checks_total", "Checks by outcome", ["outcome"])
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
