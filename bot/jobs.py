"""Retraining jobs: a queue in SQL, run one at a time across every process and host.

The admin UI (and anything else) only enqueues; `flask worker` runs queued jobs, and
`flask retrain` runs one in the foreground. All of them go through `run_job`, which first
takes the instance-wide job slot:

- PostgreSQL: the single `job_lock` row, locked `FOR UPDATE SKIP LOCKED` for the whole run on
  a connection of its own. A second claimant skips it and is told a job is running; if the
  holder dies, the server drops its connection and with it the lock.
- SQLite (one host): claiming is one conditional UPDATE, which SQLite runs under its single
  write lock: it succeeds only while no other job has a fresh heartbeat.

A running job writes a heartbeat every few seconds; one whose heartbeat stopped is marked
failed, and staging directories left behind are removed, when a worker next starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from bot.db import new_session
from bot.models import RetrainJob
from bot.models import utcnow
from bot.retrain import RetrainError
from bot.retrain import retrain
from bot.versions import models_dir
from bot.versions import orphan_dirs
from training.recipes import prepare_recipe
from training.trainer import TrainingConfig

logger = logging.getLogger(__name__)

HEARTBEATS_PER_TIMEOUT = 6  # a job is given up after this many heartbeats went missing
STAGING_PREFIX = ".staging-"
RECIPE_SETTINGS = (
    "recipe",
    "data_file",
    "loss",
    "hard_negatives",
    "oos_negatives",
    "base_model",
    "force",
)


class JobBusy(RuntimeError):
    """Another retraining job is running; the message says which, where and since when."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue(session: Session, settings: dict[str, Any], started_by: str) -> RetrainJob:
    """Queue a job; `settings` are TrainingConfig fields plus the recipe options."""
    job = RetrainJob(
        status="queued", phase="queued", settings=settings, result={}, started_by=started_by
    )
    session.add(job)
    session.commit()
    return job


def heartbeat_timeout(app: Flask) -> timedelta:
    """How long a running job may stay silent before its worker counts as dead."""
    return timedelta(seconds=float(app.config["BOT_JOB_HEARTBEAT_TIMEOUT"]))


def running_job(session: Session, timeout: timedelta) -> RetrainJob | None:
    """The job running now (a heartbeat within `timeout`), if any."""
    return session.scalars(
        select(RetrainJob)
        .where(RetrainJob.status == "running", RetrainJob.heartbeat_at >= utcnow() - timeout)
        .order_by(RetrainJob.id)
    ).first()


def next_queued(session: Session) -> RetrainJob | None:
    return session.scalars(
        select(RetrainJob).where(RetrainJob.status == "queued").order_by(RetrainJob.id)
    ).first()


def recover(app: Flask) -> list[int]:
    """Mark jobs whose worker died as failed; remove staging and orphan version directories
    left behind (at `init` and when a worker starts)."""
    timeout = heartbeat_timeout(app)
    with new_session(app) as session:
        dead = list(
            session.scalars(
                select(RetrainJob).where(
                    RetrainJob.status == "running",
                    (RetrainJob.heartbeat_at < utcnow() - timeout)
                    | RetrainJob.heartbeat_at.is_(None),
                )
            )
        )
        for job in dead:
            job.status, job.phase, job.finished_at = "failed", "failed", utcnow()
            job.error = f"interrupted: the worker running it ({job.worker or 'unknown'}) stopped"
        session.commit()
        if running_job(session, timeout) is None:  # nothing is being written right now
            root = models_dir(app)
            leftovers = list(root.glob(f"{STAGING_PREFIX}*")) if root.is_dir() else []
            for leftover in leftovers + orphan_dirs(session, root):
                logger.warning("removing %s: no job or version owns it", leftover)
                shutil.rmtree(leftover, ignore_errors=True)
        ids = [job.id for job in dead]
        if ids:
            logger.warning("interrupted retraining jobs marked as failed: %s", ids)
        return ids


@contextmanager
def job_slot(engine: Engine) -> Iterator[bool]:
    """Yield True while holding PostgreSQL's job lock row (False: another job holds it).

    SQLite needs no long-held lock (its claim is atomic); it always yields True.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection, connection.begin():
        held = connection.execute(
            text("SELECT id FROM job_lock WHERE id = 1 FOR UPDATE SKIP LOCKED")
        ).first()
        yield held is not None


def claim(session: Session, job_id: int, timeout: timedelta) -> bool:
    """Mark the queued job running, unless another job is running; atomic on both backends."""
    other = aliased(RetrainJob)
    now = utcnow()
    claimed = session.execute(
        update(RetrainJob)
        .where(
            RetrainJob.id == job_id,
            RetrainJob.status == "queued",
            ~exists().where(and_(other.status == "running", other.heartbeat_at >= now - timeout)),
        )
        .values(
            status="running",
            phase="starting",
            worker=worker_name(),
            heartbeat_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return claimed == 1


def busy_message(session: Session, timeout: timedelta) -> str:
    job = running_job(session, timeout)
    if job is None:
        return "another retraining job is starting; try again in a moment"
    return (
        f"retraining job #{job.id} is running ({job.phase}, started by "
        f"{job.started_by or 'unknown'} on {job.worker}); wait for it to finish"
    )


class _Heartbeat:
    """Keeps a running job's heartbeat fresh, and records its phase and step."""

    def __init__(self, app: Flask, job_id: int) -> None:
        self.app, self.job_id = app, job_id
        self.interval = heartbeat_timeout(app).total_seconds() / HEARTBEATS_PER_TIMEOUT
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)
        self._last_step_write = 0.0

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def update(self, **values: Any) -> None:
        with new_session(self.app) as session:
            session.execute(
                update(RetrainJob)
                .where(RetrainJob.id == self.job_id)
                .values(**values, heartbeat_at=utcnow(), updated_at=utcnow())
            )
            session.commit()

    def phase(self, name: str) -> None:
        self.update(phase=name)

    def step(self, step: int, total: int) -> None:
        if time.monotonic() - self._last_step_write >= 0.5 or step >= total:
            self._last_step_write = time.monotonic()
            self.update(phase="training", step=step, total_steps=total)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.update()
            except Exception:  # a missed beat is not fatal; many missed ones are reported
                logger.exception("retraining heartbeat failed")


def _progress_callback(report: Callable[[int, int], None]) -> Any:
    """A transformers TrainerCallback that reports every optimiser step."""
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            report(state.global_step, state.max_steps)

    return StepProgress()


def run_job(app: Flask, job_id: int) -> RetrainJob:
    """Run one queued job to its end; raise JobBusy (job left queued) if another one runs."""
    timeout = heartbeat_timeout(app)
    with job_slot(app.extensions["db_engine"]) as free:
        with new_session(app) as session:
            if not free or not claim(session, job_id, timeout):
                raise JobBusy(busy_message(session, timeout))
            settings = dict(session.get(RetrainJob, job_id).settings)
        with _Heartbeat(app, job_id) as heartbeat:
            try:
                report = _retrain(app, settings, heartbeat)
            except Exception as exc:  # RetrainError, or a bug: either way the job failed
                if not isinstance(exc, RetrainError):
                    logger.exception("retraining job %s crashed", job_id)
                heartbeat.update(
                    status="failed", phase="failed", error=str(exc), finished_at=utcnow()
                )
            else:
                heartbeat.update(
                    status="succeeded",
                    phase="done",
                    version_name=report["version"],
                    finished_at=utcnow(),
                    result=report,
                )
    with new_session(app) as session:
        return session.get(RetrainJob, job_id)


def _retrain(app: Flask, settings: dict[str, Any], heartbeat: _Heartbeat) -> dict[str, Any]:
    options = {key: settings.get(key) for key in RECIPE_SETTINGS}
    fields = TrainingConfig.__dataclass_fields__
    config = TrainingConfig(**{k: v for k, v in settings.items() if k in fields})
    try:
        recipe = prepare_recipe(
            options["recipe"] or "mnrl",
            options["data_file"],
            options["loss"],
            int(options["hard_negatives"] or 0),
            options["oos_negatives"],
        )
    except ValueError as exc:  # a bad data file or recipe option (CsvValidationError too)
        raise RetrainError(str(exc)) from exc
    with app.app_context(), new_session(app) as session:
        return retrain(
            app,
            session,
            config,
            options["base_model"],
            force=bool(options["force"]),
            recipe=recipe,
            progress=heartbeat.phase,
            callbacks=[_progress_callback(heartbeat.step)],
        ).as_dict()


def work(
    app: Flask, once: bool = False, poll_seconds: float = 2.0, parent_pid: int | None = None
) -> int:
    """Run queued jobs as they come (`once`: until the queue is empty); returns how many ran.

    With `once` and another worker busy, it returns rather than waiting. With `parent_pid` it
    stops once that process (the development server that started it) is gone.
    """
    recover(app)
    done = 0
    while True:
        with new_session(app) as session:
            job = next_queued(session)
            job_id = job.id if job is not None else None
        if job_id is not None:
            try:
                run_job(app, job_id)
                done += 1
                continue
            except JobBusy as exc:
                logger.info("worker waits: %s", exc)
                if once:
                    return done
        elif once:
            return done
        if parent_pid is not None and os.getppid() != parent_pid:
            return done
        time.sleep(poll_seconds)
