"""Training pairs: colloquial messages and the FAQ each means (indexed and trained on)."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from bot.admin import bp
from bot.admin.common import faq_choices
from bot.admin.common import get_or_404
from bot.admin.common import page_number
from bot.admin.common import paginate
from bot.admin.common import query_text
from bot.admin.common import safe_next
from bot.admin.forms import ActionForm
from bot.admin.forms import PairForm
from bot.admin.reindex import approve
from bot.admin.reindex import delete
from bot.admin.reindex import request_reindex
from bot.db import get_session
from bot.models import Faq
from bot.models import TrainingPair
from training.tabular import normalise_key


def _duplicate(session: Session, pair_id: int | None, faq_id: int, text: str) -> bool:
    texts = session.execute(
        select(TrainingPair.id, TrainingPair.text).where(TrainingPair.faq_id == faq_id)
    )
    return any(i != pair_id and normalise_key(t) == normalise_key(text) for i, t in texts)


def _save(session: Session, pair: TrainingPair, form: PairForm) -> bool:
    if not form.validate_on_submit():
        return False
    if session.get(Faq, form.faq_id.data) is None:
        form.faq_id.errors.append("No such FAQ.")
        return False
    if _duplicate(session, pair.id, form.faq_id.data, form.text.data):
        form.text.errors.append("This FAQ already has this training pair.")
        return False
    pair.text = form.text.data
    pair.faq_id = form.faq_id.data
    pair.approved = bool(form.approved.data)
    if pair.id is None:
        pair.source = "admin"
        session.add(pair)
    session.commit()
    request_reindex()
    return True


def _back(default: str) -> str:
    return safe_next(request.values.get("next"), default)


@bp.get("/pairs")
def pair_list() -> Any:
    session = get_session()
    q = query_text("q")
    status = request.args.get("status", "all")
    faq_id = request.args.get("faq", type=int)
    statement = select(TrainingPair).options(selectinload(TrainingPair.faq))
    if q:
        statement = statement.where(TrainingPair.text.ilike(f"%{q}%"))
    if status in ("approved", "pending"):
        statement = statement.where(TrainingPair.approved.is_(status == "approved"))
    if faq_id:
        statement = statement.where(TrainingPair.faq_id == faq_id)
    page = paginate(
        session,
        statement.order_by(TrainingPair.approved, TrainingPair.id.desc()),
        page_number(),
    )
    return render_template(
        "admin/pair_list.html",
        page=page,
        q=q,
        status=status,
        faq_id=faq_id,
        faqs=faq_choices(session, include_inactive=True),
        action_form=ActionForm(),
    )


@bp.route("/pairs/new", methods=["GET", "POST"])
def pair_new() -> Any:
    session = get_session()
    form = PairForm(faq_id=request.args.get("faq_id", type=int))
    form.faq_id.choices = faq_choices(session, include_inactive=True)
    if _save(session, TrainingPair(), form):
        flash("Training pair added.", "ok")
        return redirect(_back(url_for("admin.pair_list")))
    status = 422 if form.errors else 200
    return render_template("admin/pair_form.html", form=form, pair=None), status


@bp.route("/pairs/<int:pair_id>", methods=["GET", "POST"])
def pair_edit(pair_id: int) -> Any:
    session = get_session()
    pair = get_or_404(TrainingPair, pair_id, "training pair")
    form = PairForm(obj=pair if request.method == "GET" else None)
    form.faq_id.choices = faq_choices(session, include_inactive=True)
    if _save(session, pair, form):
        flash("Training pair saved.", "ok")
        return redirect(_back(url_for("admin.pair_list")))
    status = 422 if form.errors else 200
    return render_template("admin/pair_form.html", form=form, pair=pair), status


@bp.post("/pairs/<int:pair_id>/approve")
def pair_approve(pair_id: int) -> Any:
    if approve(get_session().get(TrainingPair, pair_id)):
        flash("Training pair approved.", "ok")
    return redirect(_back(url_for("admin.pair_list")))


@bp.post("/pairs/<int:pair_id>/delete")
def pair_delete(pair_id: int) -> Any:
    if delete(get_session().get(TrainingPair, pair_id)):
        flash("Training pair deleted.", "ok")
    return redirect(_back(url_for("admin.pair_list")))
