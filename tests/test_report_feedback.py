"""`flask report feedback`: per-FAQ satisfaction, most disliked first, as text and JSON."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.db import new_session
from bot.models import Faq
from bot.models import QueryLog
from bot.models import utcnow


def faq_ids(app, *questions: str) -> list[int]:  # noqa: ANN001
    with new_session(app) as session:
        found = dict(session.execute(select(Faq.question, Faq.id)).all())
    return [found[q] for q in questions]


def vote(app, faq_id: int, *verdicts: bool | None, days_ago: int = 0) -> None:  # noqa: ANN001
    with new_session(app) as session:
        for helpful in verdicts:
            session.add(
                QueryLog(
                    text="x",
                    channel="telegram",
                    fallback=False,
                    faq_id=faq_id,
                    helpful=helpful,
                    created_at=utcnow() - timedelta(days=days_ago),
                )
            )
        session.commit()


def report(runner, *args: str) -> dict:  # noqa: ANN001
    result = runner.invoke(args=["report", "feedback", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_most_disliked_answers_come_first(app, runner):
    # the disliked FAQ comes later in the catalog: the order is the votes', not the ids'
    disliked, liked = faq_ids(app, "Apa itu mode mewah?", "Kenapa dashboard saya kosong?")
    assert liked < disliked
    vote(app, liked, True, True, False, None)
    vote(app, disliked, False, False, True)
    body = report(runner)
    assert [(f["faq_id"], f["helpful"], f["unhelpful"]) for f in body["faqs"]] == [
        (disliked, 1, 2),
        (liked, 2, 1),
    ]
    assert body["faqs"][1]["share_helpful"] == 2 / 3
    text = runner.invoke(args=["report", "feedback"]).output
    lines = text.splitlines()
    assert "Apa itu mode mewah?" in lines[1] and "33%" in lines[1]
    assert "Kenapa dashboard saya kosong?" in lines[2] and "67%" in lines[2]


def test_days_limits_the_report_and_no_feedback_says_so(app, runner):
    assert runner.invoke(args=["report", "feedback"]).output == "No feedback yet.\n"
    [faq] = faq_ids(app, "Apa itu mode mewah?")
    vote(app, faq, False, days_ago=40)
    vote(app, faq, True)
    assert [(f["helpful"], f["unhelpful"]) for f in report(runner)["faqs"]] == [(1, 1)]
    assert [(f["helpful"], f["unhelpful"]) for f in report(runner, "--days", "30")["faqs"]] == [
        (1, 0)
    ]
    assert runner.invoke(args=["report", "feedback", "--days", "0"]).exit_code == 2
