"""Prometheus text exposition of the proxy's counters (no client library on the hot path)."""
from __future__ import annotations

import bisect
from collections import Counter
from typing import Callable

__all__ = ["Metrics", "BUCKETS"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Latency histogram bucket bounds, in seconds."""


class Metrics:
    def __init__(self, gauges: dict[str, Callable[[], float]] | None = None):
        self.requests: Counter = Counter()
        """(endpoint, status) -> count of answered requests."""
        self.errors: Counter = Counter()
        """kind -> count of errors (rejections, upstream failures, log failures)."""
        self._buckets = [0] * (len(BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0
        self.gauges = gauges or {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, status)] += 1
        self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sum += seconds
        self._count += 1

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    def render(self) -> str:
        lines = ["# HELP proxy_requests_total Requests answered, by endpoint and HTTP status.",
                 "# TYPE proxy_requests_total counter"]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f'proxy_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
        lines += ["# HELP proxy_errors_total Errors by kind.", "# TYPE proxy_errors_total counter"]
        for kind, n in sorted(self.errors.items()):
            lines.append(f'proxy_errors_total{{kind="{kind}"}} {n}')
        lines += ["# HELP proxy_request_duration_seconds Time from request to final response.",
                  "# TYPE proxy_request_duration_seconds histogram"]
        acc = 0
        for bound, n in zip(BUCKETS, self._buckets):
            acc += n
            lines.append(f'proxy_request_duration_seconds_bucket{{le="{bound}"}} {acc}')
        lines.append(f'proxy_request_duration_seconds_bucket{{le="+Inf"}} {self._count}')
        lines.append(f"proxy_request_duration_seconds_sum {self._sum:.6f}")
        lines.append(f"proxy_request_duration_seconds_count {self._count}")
        for name, fn in sorted(self.gauges.items()):
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# TYPE {name} {kind}", f"{name} {fn()}"]
        return "\n".join(lines) + "\n"
