"""Handoff page: questions users handed to a person, answered here or in the support chat,
and turned into knowledge in one click (a new FAQ, or a pair / alternate of an existing one)."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from bot.admin import bp
from bot.admin.common import faq_choices
from bot.admin.common import get_or_404
from bot.admin.forms import AttachForm
from bot.admin.forms import HandoffAnswerForm
from bot.admin.reindex import request_reindex
from bot.db import get_session
from bot.handoff import CLOSED
from bot.handoff import TicketClosed
from bot.handoff import close
from bot.handoff import queue_telegram_answer
from bot.handoff import record_answer
from bot.handoff import tickets
from bot.models import Faq
from bot.models import Handoff
from bot.models import QueryLog
from bot.review import InboxError
from bot.review import attach

MAX_TICKETS = 200
TELEGRAM = "telegram"


def answer_form(ticket: Handoff, formdata: Any) -> HandoffAnswerForm:
    return HandoffAnswerForm(formdata=formdata, prefix=f"a{ticket.id}")


def attach_form(ticket: Handoff, choices: list) -> AttachForm:
    form = AttachForm(formdata=None, prefix=f"t{ticket.id}")
    form.faq_id.choices = choices
    return form


@bp.get("/handoff")
def handoff_list() -> Any:
    session = get_session()
    choices = faq_choices(session)
    shown = [
        (ticket, answer_form(ticket, None), attach_form(ticket, choices))
        for ticket in tickets(session, MAX_TICKETS)
    ]
    return render_template("admin/handoff.html", tickets=shown, closed=CLOSED)


def back() -> Any:
    return redirect(url_for("admin.handoff_list"))


@bp.post("/handoff/<int:ticket_id>/answer")
def handoff_answer(ticket_id: int) -> Any:
    """Answer from the admin: an API client reads it, a Telegram user is sent it."""
    session = get_session()
    ticket = get_or_404(Handoff, ticket_id, "ticket")
    form = answer_form(ticket, request.form)
    if not form.validate():
        flash("Write an answer (plain text, at most 4,000 characters).", "error")
        return back()
    try:
        record_answer(ticket, form.answer.data, g.admin.username)
    except TicketClosed:
        flash(f"Ticket #{ticket.id} is closed; the answer was not sent.", "error")
        return back()
    if ticket.channel == TELEGRAM and ticket.chat_id is not None:
        queue_telegram_answer(session, ticket, form.answer.data)
    session.commit()
    flash(
        f"Ticket #{ticket.id} answered; the user gets the answer through {ticket.channel}.", "ok"
    )
    return back()


@bp.post("/handoff/<int:ticket_id>/close")
def handoff_close(ticket_id: int) -> Any:
    ticket = get_or_404(Handoff, ticket_id, "ticket")
    if close(ticket):
        get_session().commit()
        flash(f"Ticket #{ticket.id} closed.", "ok")
    else:
        flash(f"Ticket #{ticket.id} was closed already.", "info")
    return back()


@bp.post("/handoff/<int:ticket_id>/new-faq")
def handoff_new_faq(ticket_id: int) -> Any:
    """The FAQ form, prefilled: the user's message as question (and first training pair once
    the admin rewrites the question), the agent's answer as answer."""
    ticket = get_or_404(Handoff, ticket_id, "ticket")
    return redirect(url_for("admin.faq_new", queries=ticket.query_log_id or "", handoff=ticket.id))


@bp.post("/handoff/<int:ticket_id>/attach")
def handoff_attach(ticket_id: int) -> Any:
    """The user's message becomes a training pair or an alternate of an existing FAQ."""
    session = get_session()
    ticket = get_or_404(Handoff, ticket_id, "ticket")
    form = attach_form(ticket, faq_choices(session))
    form.process(request.form)
    log = session.get(QueryLog, ticket.query_log_id) if ticket.query_log_id else None
    if not form.validate() or log is None:
        flash("Choose a FAQ; the message must still be in the query log.", "error")
        return back()
    faq = session.get(Faq, form.faq_id.data)
    try:
        added = attach(session, [log], faq, form.kind.data)
    except InboxError as exc:
        session.rollback()
        flash(f"Nothing changed: {exc}.", "error")
        return back()
    session.commit()
    request_reindex()
    flash(f"“{log.text}” added to FAQ #{faq.id} ({added} new phrasing).", "ok")
    return back()
