"""The database schema: FAQs, their phrasings, out-of-scope examples, what users asked (and
what they thought of the answers), handoff tickets, and model versions.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import false
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Faq(Base):
    """One canonical question and the answer the bot gives for it."""

    __tablename__ = "faq"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(String(500), unique=True)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(100), default="", index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    alternates: Mapped[list[AlternateQuestion]] = relationship(
        back_populates="faq", cascade="all, delete-orphan", order_by="AlternateQuestion.id"
    )
    training_pairs: Mapped[list[TrainingPair]] = relationship(
        back_populates="faq", cascade="all, delete-orphan", order_by="TrainingPair.id"
    )


class AlternateQuestion(Base):
    """Another way of asking a FAQ, written by an admin; indexed like the canonical question."""

    __tablename__ = "alternate_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    faq_id: Mapped[int] = mapped_column(ForeignKey("faq.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(500))

    faq: Mapped[Faq] = relationship(back_populates="alternates")


class TrainingPair(Base):
    """A colloquial user message and the FAQ it means; fine-tuning data and an indexed phrasing."""

    __tablename__ = "training_pair"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(1000))
    faq_id: Mapped[int] = mapped_column(ForeignKey("faq.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(50), default="seed")
    approved: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    faq: Mapped[Faq] = relationship(back_populates="training_pairs")


class QueryLog(Base):
    """Every message any channel received and what the bot did with it."""

    __tablename__ = "query_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(50), index=True)
    faq_id: Mapped[int | None] = mapped_column(
        ForeignKey("faq.id", ondelete="SET NULL"), nullable=True, index=True
    )
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    fallback: Mapped[bool] = mapped_column(Boolean, index=True)
    fallback_rule: Mapped[str | None] = mapped_column(
        String(20), nullable=True
    )  # threshold | reject_class: which rule sent the message to the fallback
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_version.id", ondelete="SET NULL"), nullable=True
    )
    # channels that push replies (Telegram): sent | queued | failed; None: answered in-line
    delivery: Mapped[str | None] = mapped_column(String(20), nullable=True)
    review_status: Mapped[str] = mapped_column(
        String(20), default="new", server_default="new", index=True
    )  # new | attached | created | ignored | out_of_scope: what an admin did
    # the user's 👍 (True) / 👎 (False) on the reply; the last press wins
    helpful: Mapped[bool | None] = mapped_column(Boolean, nullable=True, index=True)
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the API key that asked: only that client may give feedback or open a ticket on it
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class OutOfScopeExample(Base):
    """A message the bot must not answer; approved ones form the matcher's reject class."""

    __tablename__ = "out_of_scope_example"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(1000))
    source: Mapped[str] = mapped_column(String(50), default="admin", index=True)
    approved: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """A servable model: weights, the index built with them, and its calibrated settings."""

    __tablename__ = "model_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    path: Mapped[str] = mapped_column(String(1000))
    model_path: Mapped[str] = mapped_column(String(1000))
    base_model: Mapped[str] = mapped_column(String(500))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    threshold: Mapped[float] = mapped_column(Float)
    semantic_weight: Mapped[float] = mapped_column(Float, default=1.0)
    margin: Mapped[float] = mapped_column(Float, default=0.0)
    # the reject class overrides an answer when the nearest out-of-scope example leads the
    # best FAQ by at least this much; None: it never does
    reject_margin: Mapped[float | None] = mapped_column(Float, nullable=True)
    index_revision: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdminUser(Base):
    """A person who may use the admin web UI; the password is stored hashed (werkzeug)."""

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # every session cookie carries it; a new one (logout, reset, disable) ends them all
    session_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RetrainJob(Base):
    """A retraining job: queued by the admin or `flask retrain`, run by one worker at a time.

    Kept in SQL so every process and host sees the queue and the progress.
    """

    __tablename__ = "retrain_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(
        String(20), default="queued", index=True
    )  # queued | running | succeeded | failed
    phase: Mapped[str] = mapped_column(String(100), default="")
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str] = mapped_column(String(200), default="", server_default="")  # host:pid


class JobLock(Base):
    """One row; a worker holds it locked (PostgreSQL) while a retraining job runs."""

    __tablename__ = "job_lock"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class NameSequence(Base):
    """Counters that only go up, so a deleted model version's name is never given again."""

    __tablename__ = "name_sequence"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class TelegramUpdate(Base):
    """Telegram update ids already handled: a redelivered update is answered once."""

    __tablename__ = "telegram_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class ApiKey(Base):
    """A key for the public API; only its SHA-256 is stored, the key is shown once."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings to tell keys apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TelegramOutbox(Base):
    """A Telegram reply the Bot API did not take; retried with backoff until sent or given up."""

    __tablename__ = "telegram_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reply_to_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    reply_markup: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    query_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("query_log.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(
        String(20), default="pending", index=True
    )  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MaintenanceRun(Base):
    """When a periodic job last ran, so one worker among several claims each run."""

    __tablename__ = "maintenance_run"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Handoff(Base):
    """A message handed to a person: open -> answered -> closed.

    The message and the conversation before it are copied here, so a ticket outlives the
    query log's retention; `token` is the id clients see (random, so not guessable).
    """

    __tablename__ = "handoff"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    query_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("query_log.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    message: Mapped[str] = mapped_column(Text)
    # the user's earlier messages, oldest first
    history: Mapped[list[str]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(50), index=True)
    contact: Mapped[str] = mapped_column(String(200), default="")  # how to reach the user
    chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # Telegram
    reply_to_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # the ticket's message in the support chat: agents answer by replying to it
    support_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    status: Mapped[str] = mapped_column(
        String(20), default="open", index=True
    )  # open | answered | closed
    answered_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    first_response_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
