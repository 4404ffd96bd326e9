"""GET /metrics: Prometheus text an operator can scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.db import new_session
from bot.models import RetrainJob


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # noqa: ANN001
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(found, name: str, **labels: str) -> float:  # noqa: ANN001
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_answers_fallbacks_requests_and_jobs(app, client):
    before = samples(client)
    client.post("/api/chat", json={"message": "apa itu mode mewah?"})
    client.post("/api/chat", json={"message": "zzzz qqqq xxxx"})
    client.post("/api/chat", json={"message": ""})  # refused: a 400, no answer
    with new_session(app) as session:
        session.add(RetrainJob(status="failed", settings={}, result={}))
        session.commit()
    after = samples(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    answered = grew("faqbot_answers_total", channel="api", outcome="answered")
    fallbacks = grew("faqbot_answers_total", channel="api", outcome="fallback")
    assert answered + fallbacks == 2 and fallbacks >= 1
    assert grew("faqbot_http_requests_total", endpoint="api.chat", status="200") == 2
    assert grew("faqbot_http_requests_total", endpoint="api.chat", status="400") == 1
    assert grew("faqbot_http_request_seconds_count", endpoint="api.chat") == 3
    assert value(after, "faqbot_active_model_version_info", version="v1") == 1
    assert value(after, "faqbot_retrain_jobs", status="failed") == 1
