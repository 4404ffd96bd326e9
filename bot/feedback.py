"""What users think of answers: 👍 / 👎 on a logged reply, and satisfaction per FAQ.

Answers people dislike are the ones to rewrite; a 👎 also puts the message in the inbox
(bot.review), where an admin can attach it to a better FAQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Faq
from bot.models import QueryLog
from bot.models import utcnow


def record_feedback(log: QueryLog, helpful: bool) -> None:
    """Keep the user's verdict on the reply (the last press wins); the caller commits."""
    log.helpful = helpful
    log.feedback_at = utcnow()


@dataclass(frozen=True)
class Satisfaction:
    faq_id: int
    question: str
    helpful: int
    unhelpful: int

    @property
    def votes(self) -> int:
        return self.helpful + self.unhelpful

    @property
    def share_helpful(self) -> float:
        return self.helpful / self.votes


def satisfaction(session: Session, since: datetime | None = None) -> list[Satisfaction]:
    """Per FAQ with any feedback: 👍 and 👎 counts, the most disliked first."""
    unhelpful = func.sum(case((QueryLog.helpful.is_(False), 1), else_=0))
    helpful = func.sum(case((QueryLog.helpful.is_(True), 1), else_=0))
    statement = (
        select(Faq.id, Faq.question, helpful, unhelpful)
        .join(QueryLog, QueryLog.faq_id == Faq.id)
        .where(QueryLog.helpful.is_not(None))
        .group_by(Faq.id, Faq.question)
        .order_by(unhelpful.desc(), helpful, Faq.id)
    )
    if since is not None:
        statement = statement.where(QueryLog.created_at >= since)
    return [
        Satisfaction(faq_id, question, int(up), int(down))
        for faq_id, question, up, down in session.execute(statement)
    ]
