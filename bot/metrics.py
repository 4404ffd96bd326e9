"""Prometheus metrics: what operators graph and alert on.

One process keeps its figures in memory. Under gunicorn, set PROMETHEUS_MULTIPROC_DIR to an
empty directory shared by the workers (deploy/gunicorn.conf.py does), so that a scrape of any
worker reports all of them.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "faqbot_http_requests_total", "HTTP requests by endpoint and status", ["endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "faqbot_http_request_seconds",
    "HTTP request latency by endpoint",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
ANSWERS = Counter(
    "faqbot_answers_total", "Messages answered, by channel and outcome", ["channel", "outcome"]
)
SERVED_VERSION = Gauge(
    "faqbot_served_model_version_info",
    "1 for the model version (and index revision) this worker serves",
    ["version", "revision"],
    multiprocess_mode="liveall",
)
MODEL_LOAD_STATE = Gauge(
    "faqbot_model_load_state",
    "1 for this worker's model load state (loading, ready, failed)",
    ["state"],
    multiprocess_mode="liveall",
)
MODEL_LOADS = Counter("faqbot_model_loads_total", "Model (re)loads by result", ["result"])


def exposition(extra: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The metrics page: every worker's figures, plus `extra` (e.g. database-wide gauges)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if extra is not None:
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST
