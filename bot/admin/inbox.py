"""Unanswered inbox: what users asked that the bot could not (or barely) answer, grouped.

Also the Telegram "did you mean" picks (a user chose a suggested FAQ; an admin confirms the
pair before it is indexed and trained on) and "none of these" (a user said no suggestion
fits; an admin confirms the message is not our topic before the bot refuses it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from bot.admin import bp
from bot.admin.common import faq_choices
from bot.admin.forms import ActionForm
from bot.admin.forms import AttachForm
from bot.admin.reindex import reindex_now
from bot.admin.reindex import request_reindex
from bot.db import get_session
from bot.models import Faq
from bot.models import OutOfScopeExample
from bot.models import QueryLog
from bot.models import TrainingPair
from bot.review import InboxError
from bot.review import attach
from bot.review import cluster_queries
from bot.review import ignore
from bot.review import inbox_queries
from bot.review import mark_out_of_scope
from bot.review import parse_ids
from bot.review import pending_out_of_scope
from bot.review import pending_queries
from bot.review import telegram_picks
from bot.serving import serving
from bot.versions import active_version
from bot.versions import served_threshold

MAX_MESSAGES = 500  # newest first; older ones show once these are handled
MAX_CLUSTERS_SHOWN = 50


@bp.get("/inbox")
def inbox() -> Any:
    config = current_app.config
    session = get_session()
    version = active_version(session)
    model = serving(current_app).current(session) if version is not None else None
    matcher = model.matcher if model is not None else None
    threshold = served_threshold(config, version)
    band = config["ADMIN_INBOX_BAND"]
    queries = inbox_queries(session, threshold, band, MAX_MESSAGES)
    clusters = cluster_queries(queries, matcher, config["ADMIN_CLUSTER_SIMILARITY"])
    clusters = clusters[:MAX_CLUSTERS_SHOWN]
    suggested = matcher.rank_many([c.leader for c in clusters]) if matcher else []
    choices = faq_choices(session)
    forms = []
    for number, cluster in enumerate(clusters):
        form = AttachForm(formdata=None, prefix=f"c{cluster.ids[0]}")
        form.faq_id.choices = choices
        ranked = (
            [(session.get(Faq, c.faq_id), c.score) for c in suggested[number]] if suggested else []
        )
        if ranked:
            form.faq_id.data = ranked[0][0].id
        forms.append((cluster, form, ranked))
    picks = list(session.scalars(telegram_picks().limit(200)))
    none_of_these = list(session.scalars(pending_out_of_scope().limit(200)))
    return render_template(
        "admin/inbox.html",
        clusters=forms,
        n_messages=len(queries),
        threshold=threshold,
        band=band,
        picks=picks,
        none_of_these=none_of_these,
        action_form=ActionForm(),
    )


def _selected() -> list[QueryLog]:
    return pending_queries(get_session(), parse_ids(request.form.getlist("ids")))


@bp.post("/inbox/attach")
def inbox_attach() -> Any:
    session = get_session()
    prefix = request.form.get("prefix", "")
    form = AttachForm(prefix=prefix)
    form.faq_id.choices = faq_choices(session)
    if not form.validate():
        flash("Choose a FAQ and whether to add the messages as pairs or alternates.", "error")
        return redirect(url_for("admin.inbox"))
    faq = session.get(Faq, form.faq_id.data)
    try:
        added = attach(session, _selected(), faq, form.kind.data)
    except InboxError as exc:
        session.rollback()
        flash(f"Nothing changed: {exc}.", "error")
        return redirect(url_for("admin.inbox"))
    session.commit()
    request_reindex()
    kind = "training pair(s)" if form.kind.data == "pair" else "alternate question(s)"
    flash(f"Added {added} {kind} to FAQ #{faq.id} “{faq.question}”.", "ok")
    return redirect(url_for("admin.inbox"))


@bp.post("/inbox/ignore")
def inbox_ignore() -> Any:
    session = get_session()
    queries = _selected()
    ignore(queries)
    session.commit()
    flash(f"Ignored {len(queries)} message(s).", "ok")
    return redirect(url_for("admin.inbox"))


@bp.post("/inbox/out-of-scope")
def inbox_out_of_scope() -> Any:
    """ "Not our topic": the bot refuses these messages from now on (re-indexed at once)."""
    session = get_session()
    queries = _selected()
    try:
        added = mark_out_of_scope(session, queries)
    except InboxError as exc:
        session.rollback()
        flash(f"Nothing changed: {exc}.", "error")
        return redirect(url_for("admin.inbox"))
    session.commit()
    served = reindex_now()
    flash(
        f"Not our topic: {len(queries)} message(s), {added} new out-of-scope example(s). "
        + (
            "The bot now gives the fallback for them."
            if served
            else "The index is still being rebuilt; the bot refuses them once it is done."
        ),
        "ok",
    )
    return redirect(url_for("admin.inbox"))


@bp.post("/inbox/none-of-these/<int:example_id>/<any(approve, reject):decision>")
def inbox_none_of_these(example_id: int, decision: str) -> Any:
    """A Telegram user's "none of these": approve it as out of scope, or drop it."""
    example = get_session().get(OutOfScopeExample, example_id)
    return _review(
        example,
        decision == "approve",
        lambda: f"Not our topic: “{example.text}” now gets the fallback.",
        lambda: f"Dropped: “{example.text}” stays answerable.",
    )


@bp.post("/inbox/new-faq")
def inbox_new_faq() -> Any:
    """Open the FAQ form prefilled from the selected messages; they are marked when it saves."""
    queries = _selected()
    if not queries:
        flash("Select at least one message that is still waiting for review.", "error")
        return redirect(url_for("admin.inbox"))
    return redirect(url_for("admin.faq_new", queries=",".join(str(q.id) for q in queries)))


@bp.post("/inbox/picks/<int:pair_id>/<any(approve, reject):decision>")
def inbox_pick(pair_id: int, decision: str) -> Any:
    pair = get_session().get(TrainingPair, pair_id)
    return _review(
        pair,
        decision == "approve",
        lambda: f"Approved: “{pair.text}” means FAQ #{pair.faq_id}.",
        lambda: f"Rejected: “{pair.text}”.",
    )


def _review(
    pending: TrainingPair | OutOfScopeExample | None,
    approve: bool,
    approved: Callable[[], str],
    dropped: Callable[[], str],
) -> Any:
    """Approve a pending pair or example (indexed before the page returns) or delete it."""
    session = get_session()
    if pending is None or pending.approved:
        flash("That was already reviewed.", "info")
        return redirect(url_for("admin.inbox"))
    if approve:
        pending.approved = True
        flash(approved(), "ok")
    else:
        session.delete(pending)
        flash(dropped(), "ok")
    session.commit()
    if approve:
        reindex_now()
    return redirect(url_for("admin.inbox"))
