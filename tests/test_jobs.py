"""Retraining jobs: one at a time across processes, dead workers cleaned up, names unique."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import new_session
from bot.jobs import enqueue
from bot.jobs import work
from bot.models import ModelVersion
from bot.models import RetrainJob

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--epochs", "1", "--lr", "1e-3", "--no-progress", "--json"]
LONG = {"epochs": 200, "learning_rate": 1e-3, "progress_bar": False}  # minutes: never finishes
TIMEOUT = 3.0  # heartbeat timeout in these tests, so a dead worker shows quickly


def flask(app, *args: str) -> subprocess.Popen[str]:  # noqa: ANN001
    """`flask ...` as another process on the same instance and database."""
    env = {
        **os.environ,
        "BOT_INSTANCE_PATH": app.instance_path,
        "BOT_BASE_MODEL": app.config["BOT_BASE_MODEL"],
        "DATABASE_URL": app.config["DATABASE_URL"],
        "BOT_JOB_HEARTBEAT_TIMEOUT": str(TIMEOUT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "bot", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def job(app, job_id: int) -> RetrainJob:  # noqa: ANN001
    with new_session(app) as session:
        return session.get(RetrainJob, job_id)


def wait_for(condition, timeout: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture
def jobs_app(make_app):  # noqa: ANN001, ANN201
    return make_app(BOT_JOB_HEARTBEAT_TIMEOUT=TIMEOUT)


def test_a_second_retrain_is_told_which_job_runs(jobs_app):
    with new_session(jobs_app) as session:
        long_job = enqueue(session, LONG, "someone").id
    worker = flask(jobs_app, "worker")
    try:
        wait_for(lambda: job(jobs_app, long_job).step > 0)
        refused = jobs_app.test_cli_runner().invoke(args=["retrain", *QUICK])
        assert refused.exit_code == 1
        assert f"retraining job #{long_job} is running" in refused.output
        assert "started by someone" in refused.output
        with new_session(jobs_app) as session:  # the refused run left nothing behind
            assert session.scalars(select(RetrainJob.id)).all() == [long_job]
            assert session.scalars(select(ModelVersion.name)).all() == ["v1"]
    finally:
        worker.kill()
        worker.communicate(timeout=30)


def test_a_worker_killed_mid_training_is_failed_and_cleaned_up_by_the_next(jobs_app):
    with new_session(jobs_app) as session:
        long_job = enqueue(session, LONG, "someone").id
    worker = flask(jobs_app, "worker")
    wait_for(lambda: job(jobs_app, long_job).step > 0)
    models = Path(jobs_app.instance_path) / "models"
    assert list(models.glob(".staging-*")), "training writes into a staging directory"
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=30)
    assert job(jobs_app, long_job).status == "running"  # nobody has noticed yet

    time.sleep(TIMEOUT + 0.5)
    with new_session(jobs_app) as session:
        quick = enqueue(session, {"epochs": 1, "learning_rate": 1e-3, "force": True}, "me").id
    assert work(jobs_app, once=True) == 1  # a new worker starts: recovers, then runs the next
    dead = job(jobs_app, long_job)
    assert dead.status == "failed" and dead.error.startswith("interrupted")
    assert not list(models.glob(".staging-*"))
    assert job(jobs_app, quick).status == "succeeded"


def test_names_are_never_reused_after_a_delete_or_an_orphan_directory(jobs_app):
    runner = jobs_app.test_cli_runner()

    def retrain() -> str:
        result = runner.invoke(args=["retrain", *QUICK, "--force"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.strip().splitlines()[-1])["version"]

    assert retrain() == "v2"
    runner.invoke(args=["model", "activate", "v1"])
    assert runner.invoke(args=["model", "delete", "v2"]).exit_code == 0
    assert retrain() == "v3"  # not v2 again
    (Path(jobs_app.instance_path) / "models" / "v4").mkdir()  # left by a crash
    assert retrain() == "v5"


def test_a_rollback_during_training_is_what_the_promotion_is_judged_against(app, runner):
    """The baseline read at the start is stale once an admin activates another version: the
    decision is taken again against the version active when the job finishes."""
    from bot.retrain import retrain
    from bot.versions import activate
    from bot.versions import find_version
    from training.trainer import TrainingConfig

    v2 = json.loads(runner.invoke(args=["retrain", "--force", *QUICK]).stdout.splitlines()[-1])
    assert v2["version"] == "v2" and v2["activated"] is True

    def roll_back_to_v1(phase: str) -> None:
        if phase == "training":
            with app.app_context(), new_session(app) as other:
                activate(other, find_version(other, "v1"))

    with app.app_context(), new_session(app) as session:
        report = retrain(
            app,
            session,
            TrainingConfig(epochs=1, learning_rate=1e-3, progress_bar=False),
            progress=roll_back_to_v1,
        )
    promotion = report.as_dict()["promotion"]
    assert promotion["rechecked_against"] == "v1"
    v1_cost = next(c["active"] for c in promotion["checks"] if c["metric"] == "cost_cv")
    with new_session(app) as session:
        v1 = session.scalars(select(ModelVersion).filter_by(name="v1")).one()
        assert v1_cost == pytest.approx(v1_metrics_cost(app, v1))


def v1_metrics_cost(app, version: ModelVersion) -> float:  # noqa: ANN001
    """v1's cross-validated cost, measured as the guard measures a serving version."""
    from bot.evaluation_set import EvaluationSet
    from bot.evaluation_set import calibrate_and_measure
    from bot.evaluation_set import calibration_data
    from bot.indexing import matcher_for

    with app.app_context(), new_session(app) as session:
        matcher = matcher_for(session, session.get(ModelVersion, version.id))
        evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
        data = calibration_data(matcher, evaluation)
        return calibrate_and_measure(data, app.config["BOT_WRONG_ANSWER_COST"])[1]["cost_cv"]
