"""Retrain from the web UI: queue the same job as `flask retrain` for `flask worker`.

The web workers only queue; the worker process trains, one job at a time across every process
and host. The job's state lives in the `retrain_job` table, so any web worker shows its
progress; the page refreshes itself while a job waits or runs, and
`/admin/retrain/jobs/<id>.json` gives the same state to anything that polls.
"""

from __future__ import annotations

import logging
from datetime import datetime
from datetime import timezone
from typing import Any

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
from bot.jobs import enqueue
from bot.jobs import heartbeat_timeout
from bot.jobs import next_queued
from bot.jobs import recover
from bot.jobs import running_job
from bot.models import ModelVersion
from bot.models import RetrainJob
from bot.models import utcnow
from bot.retrain import COMPARED_METRICS
from bot.versions import activate
from training.trainer import TrainingConfig

logger = logging.getLogger(__name__)


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
        "worker": job.worker,
        "created_at": _aware(job.created_at).isoformat(),
        "finished_at": _aware(job.finished_at).isoformat() if job.finished_at else None,
    }


def recover_if_needed(session: Session) -> None:
    """A job whose worker died shows as failed (a worker's own start also does this)."""
    stale = session.scalar(
        select(RetrainJob.id).where(
            RetrainJob.status == "running",
            RetrainJob.heartbeat_at < utcnow() - heartbeat_timeout(current_app),
        )
    )
    if stale is not None:
        recover(current_app)


@bp.get("/retrain")
def retrain_page() -> Any:
    session = get_session()
    recover_if_needed(session)
    running = running_job(session, heartbeat_timeout(current_app)) or next_queued(session)
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
    if (
        running_job(session, heartbeat_timeout(current_app)) is not None
        or next_queued(session) is not None
    ):
        flash("A retraining job is already queued or running; wait for it to finish.", "error")
        return redirect(url_for("admin.retrain_page"))
    config = TrainingConfig(
        epochs=float(form.epochs.data),
        batch_size=int(form.batch_size.data),
        learning_rate=float(form.learning_rate.data),
        progress_bar=False,
    )
    settings = {**config.as_dict(), "force": bool(form.force.data)}
    job = enqueue(session, settings, g.admin.username)
    flash(f"Retraining job #{job.id} queued; the worker process starts it.", "ok")
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
    if running_job(session, heartbeat_timeout(current_app)) is not None:
        flash("Wait for the running retraining job to finish first.", "error")
        return redirect(url_for("admin.retrain_page"))
    activate(session, version)
    request_reindex()
    flash(f"Model version {version.name} is now active.", "ok")
    return redirect(url_for("admin.retrain_page"))
