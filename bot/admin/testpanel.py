"""Test panel: ask the bot as a user would and see its top three FAQs with their scores.

It calls `answer()` itself, so what it shows is exactly what a channel would reply. The
message is logged with channel "admin-test", which the inbox and the dashboard leave out.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from bot.admin import bp
from bot.admin.forms import TestForm
from bot.admin.reindex import wait_until_served
from bot.answering import InvalidMessage
from bot.answering import answer
from bot.db import get_session
from bot.models import Faq
from bot.review import TEST_CHANNEL


@bp.route("/test", methods=["GET", "POST"])
def test_panel() -> Any:
    form = TestForm()
    reply = None
    rows: list[tuple[Faq | None, Any]] = []
    still_indexing = False
    if form.validate_on_submit():
        # An edit just saved should answer here at once: give its index rebuild a moment.
        still_indexing = not wait_until_served()
        session = get_session()
        try:
            reply = answer(form.message.data, channel=TEST_CHANNEL, session=session)
        except InvalidMessage as exc:
            form.message.errors.append(str(exc))
        else:
            rows = [(session.get(Faq, c.faq_id), c) for c in reply.candidates]
    status = 422 if form.errors else 200
    return (
        render_template(
            "admin/test.html", form=form, reply=reply, rows=rows, still_indexing=still_indexing
        ),
        status,
    )
