"""The review queue: unanswered and doubtful messages, grouped, and what admins do with them.

Channel-neutral, so the admin inbox, the FAQ editor (a FAQ made from messages) and any other
channel share it; grouping by meaning asks the matcher for embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from bot.catalog import foreign_phrasings
from bot.catalog import phrasing_keys
from bot.catalog import phrasing_owners
from bot.csv_io import MAX_MESSAGE_CHARS
from bot.csv_io import MAX_QUESTION_CHARS
from bot.matcher import Matcher
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import OutOfScopeExample
from bot.models import QueryLog
from bot.models import TrainingPair
from bot.out_of_scope import add_examples
from training.tabular import normalise_key

TEST_CHANNEL = "admin-test"  # the test panel's messages: never in the inbox or the dashboard
INBOX_SOURCE = "inbox"  # source of pairs and out-of-scope examples made from users' messages
OUT_OF_SCOPE_STATUS = "out_of_scope"  # QueryLog.review_status: "not our topic"


class InboxError(ValueError):
    """The action cannot be done as asked; nothing was written."""


@dataclass
class Cluster:
    """Messages that mean roughly the same; the leader is the most frequent phrasing."""

    leader: str
    queries: list[QueryLog] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [q.id for q in self.queries]

    @property
    def phrasings(self) -> list[tuple[str, list[QueryLog]]]:
        """Distinct phrasings (case and spacing ignored) with their messages, commonest first."""
        groups: dict[str, tuple[str, list[QueryLog]]] = {}
        for query in self.queries:
            groups.setdefault(normalise_key(query.text), (query.text, []))[1].append(query)
        return sorted(groups.values(), key=lambda group: -len(group[1]))

    @property
    def texts(self) -> list[str]:
        """Distinct phrasings, most frequent first."""
        return [text for text, _ in self.phrasings]

    @property
    def last_seen(self) -> datetime:
        return max(q.created_at for q in self.queries)

    @property
    def fallbacks(self) -> int:
        return sum(1 for q in self.queries if q.fallback)


def parse_ids(text: str | Sequence[str]) -> list[int]:
    """Ids from "3,5,7" or a list of such strings; junk is dropped, order kept, no repeats."""
    values = [text] if isinstance(text, str) else list(text)
    parts = [part for value in values for part in value.split(",")]
    ids: list[int] = []
    for part in parts:
        part = part.strip()
        if part.isdigit() and int(part) not in ids:
            ids.append(int(part))
    return ids


def reviewable() -> list[ColumnElement[bool]]:
    return [QueryLog.review_status == "new", QueryLog.channel != TEST_CHANNEL]


def pending_queries(session: Session, ids: list[int]) -> list[QueryLog]:
    """The given messages that still wait for review, in the given order."""
    if not ids:
        return []
    statement = select(QueryLog).where(QueryLog.id.in_(ids), *reviewable())
    found = {q.id: q for q in session.scalars(statement)}
    return [found[i] for i in ids if i in found]


def telegram_picks() -> Select[tuple[TrainingPair]]:
    """Telegram "did you mean" choices that wait for an admin to approve them as pairs."""
    return (
        select(TrainingPair)
        .where(TrainingPair.source == "telegram", TrainingPair.approved.is_(False))
        .options(selectinload(TrainingPair.faq))
        .order_by(TrainingPair.created_at.desc(), TrainingPair.id.desc())
    )


def pending_out_of_scope() -> Select[tuple[OutOfScopeExample]]:
    """Telegram "none of these" messages that wait for an admin before the bot refuses them."""
    return (
        select(OutOfScopeExample)
        .where(OutOfScopeExample.source == "telegram", OutOfScopeExample.approved.is_(False))
        .order_by(OutOfScopeExample.created_at.desc(), OutOfScopeExample.id.desc())
    )


def inbox_statement(threshold: float, band: float) -> Select[tuple[QueryLog]]:
    """Unreviewed fallbacks, answers that scored below threshold + band, and answers the
    user marked 👎."""
    return select(QueryLog).where(
        *reviewable(),
        or_(
            QueryLog.fallback.is_(True),
            QueryLog.helpful.is_(False),
            QueryLog.score.is_(None),
            QueryLog.score < threshold + band,
        ),
    )


def count_of(statement: Select[Any]) -> Select[tuple[int]]:
    return select(func.count()).select_from(statement.order_by(None).subquery())


def inbox_queries(session: Session, threshold: float, band: float, limit: int) -> list[QueryLog]:
    """The inbox's messages, newest first."""
    statement = inbox_statement(threshold, band).order_by(
        QueryLog.created_at.desc(), QueryLog.id.desc()
    )
    return list(session.scalars(statement.limit(limit)))


def cluster_queries(
    queries: list[QueryLog], matcher: Matcher | None, similarity: float
) -> list[Cluster]:
    """Greedy clustering: each phrasing joins the most similar leader at or above `similarity`.

    Identical phrasings (ignoring case and spacing) always share a cluster; phrasings are
    taken most frequent first, so leaders are the common wordings. Largest clusters first.
    """
    groups: dict[str, list[QueryLog]] = {}
    for query in queries:
        groups.setdefault(normalise_key(query.text), []).append(query)
    ordered = sorted(groups.values(), key=lambda group: -len(group))
    clusters: list[Cluster] = []
    if matcher is None or not ordered:
        return [Cluster(group[0].text, list(group)) for group in ordered]
    vectors = matcher.embed([group[0].text for group in ordered])
    leaders: list[int] = []
    for index, group in enumerate(ordered):
        if leaders:
            similarities = vectors[leaders] @ vectors[index]
            best = int(np.argmax(similarities))
            if float(similarities[best]) >= similarity:
                clusters[best].queries.extend(group)
                continue
        leaders.append(index)
        clusters.append(Cluster(group[0].text, list(group)))
    return sorted(clusters, key=lambda c: (-len(c.queries), -c.last_seen.timestamp()))


def attach(session: Session, queries: list[QueryLog], faq: Faq, kind: str) -> int:
    """Add the messages to `faq` as approved training pairs or as alternates; the caller commits.

    Returns how many phrasings were new. An alternate that is another FAQ's question or
    alternate is refused (answers would be ambiguous), as in the CSV import.
    """
    if not queries:
        raise InboxError("none of the selected messages is waiting for review any more")
    if kind not in ("pair", "alternate"):
        raise InboxError("choose training pair or alternate question")
    texts = Cluster(queries[0].text, queries).texts
    added = 0
    if kind == "alternate":
        owners = phrasing_owners(session)
        conflicts = foreign_phrasings(owners, faq.id, texts)
        if conflicts:
            text, owner = conflicts[0]
            raise InboxError(f"{text!r} is already a question of FAQ #{owner}")
        if any(len(text) > MAX_QUESTION_CHARS for text in texts):
            raise InboxError(f"alternates are at most {MAX_QUESTION_CHARS} characters")
        for text in texts:
            if normalise_key(text) not in owners:
                faq.alternates.append(AlternateQuestion(text=text))
                added += 1
    else:
        added = _add_pairs(session, faq, texts)
    for query in queries:
        query.review_status = "attached"
    return added


def _add_pairs(session: Session, faq: Faq, texts: list[str]) -> int:
    known = {
        normalise_key(text)
        for text in session.scalars(select(TrainingPair.text).where(TrainingPair.faq_id == faq.id))
    }
    added = 0
    for text in texts:
        if len(text) > MAX_MESSAGE_CHARS:
            raise InboxError(f"training pairs are at most {MAX_MESSAGE_CHARS} characters")
        if normalise_key(text) not in known:
            known.add(normalise_key(text))
            session.add(TrainingPair(text=text, faq_id=faq.id, source=INBOX_SOURCE, approved=True))
            added += 1
    return added


def finish_created_faq(session: Session, faq: Faq, ids: list[int]) -> None:
    """A FAQ was created from inbox messages: they become its training pairs and are done."""
    queries = pending_queries(session, ids)
    own = {normalise_key(faq.question)} | {normalise_key(a.text) for a in faq.alternates}
    texts = [t for t in Cluster(faq.question, queries).texts if normalise_key(t) not in own]
    _add_pairs(session, faq, [t for t in texts if len(t) <= MAX_MESSAGE_CHARS])
    for query in queries:
        query.review_status = "created"


def mark_out_of_scope(session: Session, queries: list[QueryLog]) -> int:
    """ "Not our topic": the messages become approved out-of-scope examples; the caller commits
    and re-indexes, after which the reject class refuses them (no retraining).

    Returns how many examples are new. A message that is an FAQ's phrasing is refused.
    """
    if not queries:
        raise InboxError("none of the selected messages is waiting for review any more")
    texts = Cluster(queries[0].text, queries).texts
    keys = phrasing_keys(session)
    for text in texts:
        if normalise_key(text) in keys:
            raise InboxError(f"{text!r} is a phrasing of FAQ #{keys[normalise_key(text)]}")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InboxError(f"out-of-scope examples are at most {MAX_MESSAGE_CHARS} characters")
    added = add_examples(session, texts, INBOX_SOURCE, approved=True)
    for query in queries:
        query.review_status = OUT_OF_SCOPE_STATUS
    return added


def ignore(queries: list[QueryLog]) -> None:
    for query in queries:
        query.review_status = "ignored"
