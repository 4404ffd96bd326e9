"""GET /metrics (Prometheus text format), and the request timing behind it."""

from __future__ import annotations

import time

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import g
from flask import request
from prometheus_client import CollectorRegistry
from prometheus_client import Gauge
from sqlalchemy import func
from sqlalchemy import select

from bot.db import get_session
from bot.metrics import HTTP_LATENCY
from bot.metrics import HTTP_REQUESTS
from bot.metrics import exposition
from bot.models import ModelVersion
from bot.models import RetrainJob

bp = Blueprint("monitoring", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    """Every worker's counters, plus what the database knows (the same for all workers)."""
    body, content_type = exposition(database_gauges())
    return Response(body, content_type=content_type)


def database_gauges() -> CollectorRegistry:
    """Instance-wide figures read at scrape time: the active version, retraining jobs."""
    registry = CollectorRegistry()
    session = get_session()
    active = Gauge(
        "faqbot_active_model_version_info",
        "1 for the model version every worker should serve",
        ["version"],
        registry=registry,
    )
    name = session.scalar(select(ModelVersion.name).where(ModelVersion.active.is_(True)))
    if name is not None:
        active.labels(version=name).set(1)
    jobs = Gauge("faqbot_retrain_jobs", "Retraining jobs by status", ["status"], registry=registry)
    for status, count in session.execute(
        select(RetrainJob.status, func.count(RetrainJob.id)).group_by(RetrainJob.status)
    ):
        jobs.labels(status=status).set(count)
    return registry


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("request_started", None)
    endpoint = request.endpoint or "unknown"  # a route name, never the raw path
    HTTP_REQUESTS.labels(endpoint=endpoint, status=str(response.status_code)).inc()
    if started is not None:
        HTTP_LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)
