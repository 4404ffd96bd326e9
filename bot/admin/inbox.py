"""Unanswered inbox: what users asked that the bot could not (or barely) answer, grouped.

Also the Telegram "did you mean" picks: a user chose a suggested FAQ; an admin confirms the
pair before it is indexed and trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy import Select
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.admin import bp
from bot.admin.common import faq_choices
from bot.admin.forms import ActionForm
from bot.admin.forms import AttachForm
from bot.admin.inbox_actions import InboxError
from bot.admin.inbox_actions import attach
from bot.admin.inbox_actions import cluster_queries
from bot.admin.inbox_actions import current_threshold
from bot.admin.inbox_actions import ignore
from bot.admin.inbox_actions import inbox_queries
from bot.admin.inbox_actions import parse_ids
from bot.admin.inbox_actions import pending_queries
from bot.admin.reindex import reindexer
from bot.db import get_session
from bot.matcher import Matcher
from bot.models import Faq
from bot.models import QueryLog
from bot.models import TrainingPair
from bot.serving import serving
from bot.versions import active_version
from bot.versions import encoder_for

DEFAULT_BAND = 0.1
DEFAULT_CLUSTER_SIMILARITY = 0.8
MAX_MESSAGES = 500  # newest first; older ones show once these are handled
MAX_CLUSTERS_SHOWN = 50


def telegram_picks() -> Select[tuple[TrainingPair]]:
    return (
        select(TrainingPair)
        .where(TrainingPair.source == "telegram", TrainingPair.approved.is_(False))
        .options(selectinload(TrainingPair.faq))
        .order_by(TrainingPair.created_at.desc(), TrainingPair.id.desc())
    )


def suggestions(matcher: Matcher, texts: list[str], k: int = 3) -> list[list[tuple[int, float]]]:
    """The bot's top-k FAQs for each text in one batch (as `Matcher.rank`, batched)."""
    if not texts:
        return []
    scores = matcher.score_matrix(texts, lexical=matcher.semantic_weight < 1.0)
    fused = scores.fused(matcher.semantic_weight)
    ranked = []
    for row in fused:
        top = np.argsort(-row, kind="stable")[:k]
        ranked.append([(int(scores.faq_ids[col]), float(row[col])) for col in top])
    return ranked


@bp.get("/inbox")
def inbox() -> Any:
    app = current_app._get_current_object()
    session = get_session()
    version = active_version(session)
    model = serving(app).current(session) if version is not None else None
    threshold = current_threshold(app.config, version)
    band = float(app.config.get("ADMIN_INBOX_BAND", DEFAULT_BAND))
    queries = inbox_queries(session, threshold, band, MAX_MESSAGES)
    encoder = encoder_for(version.model_path) if version is not None and queries else None
    similarity = float(app.config.get("ADMIN_CLUSTER_SIMILARITY", DEFAULT_CLUSTER_SIMILARITY))
    clusters = cluster_queries(queries, encoder, similarity)[:MAX_CLUSTERS_SHOWN]
    choices = faq_choices(session)
    matcher = model.matcher if model is not None else None
    suggested = suggestions(matcher, [c.leader for c in clusters]) if matcher else None
    forms = []
    for number, cluster in enumerate(clusters):
        form = AttachForm(formdata=None, prefix=f"c{cluster.ids[0]}")
        form.faq_id.choices = choices
        ranked = [(session.get(Faq, i), s) for i, s in suggested[number]] if suggested else []
        if ranked:
            form.faq_id.data = ranked[0][0].id
        forms.append((cluster, form, ranked))
    picks = list(session.scalars(telegram_picks().limit(200)))
    return render_template(
        "admin/inbox.html",
        clusters=forms,
        n_messages=len(queries),
        threshold=threshold,
        band=band,
        picks=picks,
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
    reindexer(current_app._get_current_object()).request()
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
    session = get_session()
    pair = session.get(TrainingPair, pair_id)
    if pair is None or pair.approved:
        flash("That pick was already reviewed.", "info")
        return redirect(url_for("admin.inbox"))
    if decision == "approve":
        pair.approved = True
        flash(f"Approved: “{pair.text}” means FAQ #{pair.faq_id}.", "ok")
    else:
        session.delete(pair)
        flash(f"Rejected: “{pair.text}”.", "ok")
    session.commit()
    if decision == "approve":
        reindexer(current_app._get_current_object()).request()
    return redirect(url_for("admin.inbox"))
