"""Retrain from the web UI: the same job as `flask retrain`, in a background thread.

One job at a time. Its state lives in the `retrain_job` table, so every worker process can
show the progress; the page refreshes itself while a job runs, and
`/admin/retrain/jobs/<id>.json` gives the same state to anything that polls.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

from flask import Flask
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin import bp
from bot.admin.forms import ActionForm
from bot.admin.forms import RetrainForm
from bot.admin.reindex import request_reindex
from bot.db import get_session
from bot.db import new_session
from bot.models import ModelVersion
from bot.models import RetrainJob
from bot.models import utcnow
from bot.retrain import COMPARED_METRICS
from bot.retrain import RetrainError
from bot.retrain import retrain
from bot.versions import activate
from training.trainer import TrainingConfig

logger = logging.getLogger(__name__)

# A running job writes at least once per training step; one silent for this long died with
# its process (a restart), so it no longer blocks new jobs.
STALE_AFTER = timedelta(minutes=30)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def job_state(job: RetrainJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "phase": job.phase,
        "step": job.step,
        "total_steps": job.total_steps,
        "version": job.version_name,
        "error": job.error,
        "result": job.result,
        "started_by": job.started_by,
        "created_at": _aware(job.created_at).isoformat(),
        "finished_at": _aware(job.finished_at).isoformat() if job.finished_at else None,
    }


def _progress_callback(report: Any) -> Any:
    """A transformers TrainerCallback that reports every optimiser step."""
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            report(step=state.global_step, total=state.max_steps)

    return StepProgress()


class RetrainJobs:
    """Starts jobs one at a time and records their progress in the database."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def running(self, session: Session) -> RetrainJob | None:
        """The job in progress, if any; a stale one is marked failed on the way."""
        job = session.scalars(
            select(RetrainJob).where(RetrainJob.status == "running").order_by(RetrainJob.id)
        ).first()
        if job is not None and utcnow() - _aware(job.updated_at) > STALE_AFTER:
            job.status, job.error, job.finished_at = "failed", "interrupted", utcnow()
            session.commit()
            return None
        return job

    def start(
        self, session: Session, config: TrainingConfig, user: str, force: bool = False
    ) -> RetrainJob | None:
        """Record and start a job; None when one is already running."""
        with self._lock:
            if self.running(session) is not None:
                return None
            job = RetrainJob(
                status="running",
                phase="starting",
                settings={**config.as_dict(), "force": force},
                result={},
                started_by=user,
            )
            session.add(job)
            session.commit()
            self._thread = threading.Thread(
                target=self._run, args=(job.id, config, force), name="admin-retrain", daemon=True
            )
            self._thread.start()
            return job

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job started by this process has finished (for tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _update(self, job_id: int, **values: Any) -> None:
        with new_session(self.app) as session:
            job = session.get(RetrainJob, job_id)
            for key, value in values.items():
                setattr(job, key, value)
            job.updated_at = utcnow()
            session.commit()

    def _run(self, job_id: int, config: TrainingConfig, force: bool) -> None:
        last_write = 0.0

        def phase(name: str) -> None:
            self._update(job_id, phase=name)

        def step(step: int, total: int) -> None:
            nonlocal last_write
            if time.monotonic() - last_write >= 0.5 or step >= total:
                last_write = time.monotonic()
                self._update(job_id, phase="training", step=step, total_steps=total)

        try:
            with self.app.app_context(), new_session(self.app) as session:
                report = retrain(
                    self.app,
                    session,
                    config,
                    force=force,
                    progress=phase,
                    callbacks=[_progress_callback(step)],
                )
        except Exception as exc:  # RetrainError, or a bug: either way the job failed
            if not isinstance(exc, RetrainError):
                logger.exception("retrain job %s crashed", job_id)
            self._update(
                job_id, status="failed", phase="failed", error=str(exc), finished_at=utcnow()
            )
            return
        self._update(
            job_id,
            status="succeeded",
            phase="done",
            version_name=report.version_name,
            finished_at=utcnow(),
            result=report.as_dict(),
        )


def retrain_jobs(app: Flask) -> RetrainJobs:
    return app.extensions["admin_retrain_jobs"]


def init_app(app: Flask) -> None:
    app.extensions["admin_retrain_jobs"] = RetrainJobs(app)


@bp.get("/retrain")
def retrain_page() -> Any:
    session = get_session()
    jobs = retrain_jobs(current_app)
    running = jobs.running(session)
    latest = session.scalars(select(RetrainJob).order_by(RetrainJob.id.desc())).first()
    defaults = TrainingConfig()
    form = RetrainForm(
        formdata=None,
        epochs=defaults.epochs,
        batch_size=defaults.batch_size,
        learning_rate=defaults.learning_rate,
    )
    versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))
    active = next((v for v in versions if v.active), None)
    return render_template(
        "admin/retrain.html",
        form=form,
        running=running,
        latest=latest,
        versions=versions,
        active=active,
        metric_keys=COMPARED_METRICS,
        action_form=ActionForm(),
    )


@bp.post("/retrain")
def retrain_start() -> Any:
    session = get_session()
    form = RetrainForm()
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            flash(f"{field}: {'; '.join(errors)}", "error")
        return redirect(url_for("admin.retrain_page"))
    config = TrainingConfig(
        epochs=float(form.epochs.data),
        batch_size=int(form.batch_size.data),
        learning_rate=float(form.learning_rate.data),
        progress_bar=False,
    )
    job = retrain_jobs(current_app).start(
        session, config, g.admin.username, force=bool(form.force.data)
    )
    if job is None:
        flash("A retraining job is already running; wait for it to finish.", "error")
    else:
        flash(f"Retraining job #{job.id} started.", "ok")
    return redirect(url_for("admin.retrain_page"))


@bp.get("/retrain/jobs/<int:job_id>.json")
def retrain_job_json(job_id: int) -> Any:
    job = get_session().get(RetrainJob, job_id)
    if job is None:
        return jsonify({"error": "no such job"}), 404
    return jsonify(job_state(job))


@bp.post("/versions/<int:version_id>/activate")
def version_activate(version_id: int) -> Any:
    """Serve another version (a rollback); its index is brought up to date in the background."""
    session = get_session()
    version = session.get(ModelVersion, version_id)
    if version is None:
        flash("No such model version.", "error")
        return redirect(url_for("admin.retrain_page"))
    if retrain_jobs(current_app).running(session) is not None:
        flash("Wait for the running retraining job to finish first.", "error")
        return redirect(url_for("admin.retrain_page"))
    activate(session, version)
    request_reindex()
    flash(f"Model version {version.name} is now active.", "ok")
    return redirect(url_for("admin.retrain_page"))
