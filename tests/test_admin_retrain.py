"""Retraining from the web UI: one job at a time, progress, metrics, rollback."""

from __future__ import annotations

import re

import pytest
from admin_browser.support import post
from admin_browser.support import settle
from sqlalchemy import select

from bot.db import new_session
from bot.jobs import work
from bot.models import ModelVersion
from bot.models import RetrainJob
from bot.models import utcnow

pytest_plugins = ["admin_browser.support"]

QUICK = {"epochs": "1", "batch_size": "16", "learning_rate": "0.001", "force": "y"}


def versions(app):
    with new_session(app) as session:
        return [(v.name, v.active) for v in session.scalars(select(ModelVersion))]


@pytest.mark.slow
def test_a_job_trains_activates_and_reports_progress_and_metrics(admin_app, admin):
    page = admin.get("/admin/retrain").get_data(as_text=True)
    assert "Start retraining" in page and "v1" in page
    response = post(admin, "/admin/retrain", QUICK, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Retraining job #1 queued" in page and "is queued" in page
    assert admin.get("/admin/retrain/jobs/1.json").get_json()["status"] == "queued"
    assert versions(admin_app) == [("v1", True)]  # the web worker never trains
    assert work(admin_app, once=True) == 1  # what `flask worker` does

    state = admin.get("/admin/retrain/jobs/1.json").get_json()
    assert state["status"] == "succeeded", state
    assert state["version"] == "v2" and state["phase"] == "done"
    assert state["total_steps"] > 0 and state["step"] == state["total_steps"], state
    assert state["result"]["after"]["accuracy_at_1"] >= 0
    assert state["result"]["loss_after"] < state["result"]["loss_before"], state["result"]
    assert state["result"]["activated"] is True, state["result"]["promotion"]
    assert state["result"]["promotion"]["forced"] is True
    assert versions(admin_app) == [("v1", False), ("v2", True)]
    assert "Activated:" in admin.get("/admin/retrain").get_data(as_text=True)

    page = admin.get("/admin/retrain").get_data(as_text=True)
    assert "Created <strong>v2</strong>" in page
    before, after = state["result"]["before"], state["result"]["after"]
    for key in ("accuracy_at_1", "oos_recall", "cost"):  # the job's own figures, before -> after
        row = re.search(
            rf"<td>{key}</td><td class=\"num\">([^<]*)</td>\s*<td[^>]*>([^<]*)</td>"
            r"\s*<td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td>",
            page,
        )
        assert row is not None, key
        assert row.groups() == (  # cross-validated first, then in-sample
            f"{before[key + '_cv']:.3f}",
            f"{after[key + '_cv']:.3f}",
            f"{before[key]:.3f}",
            f"{after[key]:.3f}",
        )
    for check in state["result"]["promotion"]["checks"]:
        assert f"{check['metric']}: v2 {check['candidate']:.3f} vs active" in page
    settle(admin_app)
    reply = admin_app.test_client().post("/api/chat", json={"message": "Apa itu mode mewah?"})
    assert reply.get_json()["model_version"] == "v2"

    with new_session(admin_app) as session:
        v1 = session.scalars(select(ModelVersion).where(ModelVersion.name == "v1")).one()
    post(admin, f"/admin/versions/{v1.id}/activate")
    settle(admin_app)
    assert versions(admin_app) == [("v1", True), ("v2", False)]
    reply = admin_app.test_client().post("/api/chat", json={"message": "Apa itu mode mewah?"})
    assert reply.get_json()["model_version"] == "v1"


def running_job(app, minutes_ago=0):
    from datetime import timedelta

    with new_session(app) as session:
        job = RetrainJob(
            status="running",
            phase="training",
            step=3,
            total_steps=10,
            settings={},
            result={},
            started_by="someone",
            worker="elsewhere:42",
            heartbeat_at=utcnow() - timedelta(minutes=minutes_ago),
        )
        session.add(job)
        session.commit()
        return job.id


def test_only_one_job_runs_at_a_time(admin_app, admin):
    job = running_job(admin_app)
    page = admin.get("/admin/retrain").get_data(as_text=True)
    assert f"Job #{job}</strong> is running: training, step 3 of 10 (on elsewhere:42)" in page
    assert 'http-equiv="refresh"' in page and "Start retraining" not in page
    response = post(admin, "/admin/retrain", QUICK, follow_redirects=True)
    assert "already queued or running" in response.get_data(as_text=True)
    with new_session(admin_app) as session:
        v1 = session.scalars(select(ModelVersion)).one()
    refused = post(admin, f"/admin/versions/{v1.id}/activate", follow_redirects=True)
    assert "Wait for the running retraining job" in refused.get_data(as_text=True)
    with new_session(admin_app) as session:
        assert len(session.scalars(select(RetrainJob)).all()) == 1


def test_a_job_silent_for_too_long_counts_as_interrupted(admin_app, admin):
    job = running_job(admin_app, minutes_ago=45)
    admin.get("/admin/retrain")
    state = admin.get(f"/admin/retrain/jobs/{job}.json").get_json()
    assert state["status"] == "failed"
    assert state["error"] == "interrupted: the worker running it (elsewhere:42) stopped"


def test_a_failing_job_is_reported_and_changes_nothing(make_admin_app, tmp_path):
    from admin_browser.support import login

    app = make_admin_app(BOT_EVAL_FILE=str(tmp_path / "missing.csv"))
    client = app.test_client()
    login(client)
    post(client, "/admin/retrain", QUICK)
    assert work(app, once=True) == 1
    state = client.get("/admin/retrain/jobs/1.json").get_json()
    assert state["status"] == "failed" and "cannot start retraining" in state["error"]
    assert versions(app) == [("v1", True)]
    assert "cannot start retraining" in client.get("/admin/retrain").get_data(as_text=True)


@pytest.mark.parametrize(
    "data, error",
    [
        ({**QUICK, "epochs": "0"}, "epochs: Number must be between 0.1 and 50."),
        ({**QUICK, "learning_rate": "abc"}, "learning_rate: Not a valid float value."),
        ({**QUICK, "batch_size": "1"}, "batch_size: Number must be between 2 and 512."),
        ({}, "epochs: "),
    ],
)
def test_bad_settings_are_refused(admin_app, admin, data, error):
    page = post(admin, "/admin/retrain", data, follow_redirects=True).get_data(as_text=True)
    assert error in page
    assert "Retraining job #" not in page
    with new_session(admin_app) as session:
        assert session.scalars(select(RetrainJob)).all() == []
    assert admin.get("/admin/retrain/jobs/99.json").status_code == 404
    post(admin, "/admin/versions/99/activate")
    assert versions(admin_app) == [("v1", True)]
