"""FAQ editor: list, search, create, edit, (de)activate and delete FAQs."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from bot.admin import bp
from bot.admin.common import get_or_404
from bot.admin.common import page_number
from bot.admin.common import paginate
from bot.admin.common import query_text
from bot.admin.common import safe_next
from bot.admin.forms import ActionForm
from bot.admin.forms import FaqForm
from bot.admin.reindex import request_reindex
from bot.catalog import foreign_phrasings
from bot.catalog import phrasing_owners
from bot.db import get_session
from bot.input_rules import is_database_id
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import Handoff
from bot.models import TrainingPair
from bot.review import finish_created_faq
from bot.review import parse_ids
from bot.review import pending_queries
from bot.serving import serving
from bot.versions import active_version
from training.tabular import normalise_key

MAX_NEAR_DUPLICATES_SHOWN = 5


def ownership_problems(
    session: Session, faq_id: int | None, question: str, alternates: list[str]
) -> dict[str, list[str]]:
    """A question or alternate owned by another FAQ would make answers ambiguous: refuse it."""
    owners = phrasing_owners(session)
    problems: dict[str, list[str]] = {}
    for _text, owner in foreign_phrasings(owners, faq_id, [question]):
        problems.setdefault("question", []).append(
            f"FAQ #{owner} already has this question (or an alternate equal to it)."
        )
    for alternate, owner in foreign_phrasings(owners, faq_id, alternates):
        problems.setdefault("alternates", []).append(
            f"{alternate!r} already belongs to FAQ #{owner}."
        )
    return problems


def near_duplicates(session: Session, question: str, faq_id: int) -> list[tuple[Faq, float]]:
    """Other FAQs whose phrasings embed almost like `question` (served encoder, cosine)."""
    if active_version(session) is None:
        return []
    matcher = serving(current_app).current(session).matcher
    if matcher is None:
        return []
    found: list[tuple[Faq, float]] = []
    for other_id, similarity in matcher.similar_faqs(
        question, current_app.config["ADMIN_NEAR_DUPLICATE"]
    ):
        other = session.get(Faq, other_id) if other_id != faq_id else None
        if other is not None:
            found.append((other, similarity))
    return found[:MAX_NEAR_DUPLICATES_SHOWN]


def apply_form(session: Session, faq: Faq, form: FaqForm) -> bool:
    """Copy the form onto `faq` if nothing conflicts; else put the reasons on the form."""
    alternates = form.alternate_list()
    problems = ownership_problems(session, faq.id, form.question.data, alternates)
    for field_name, messages in problems.items():
        getattr(form, field_name).errors.extend(messages)
    if problems:
        return False
    faq.question = form.question.data
    faq.answer = form.answer.data
    faq.category = form.category.data or ""
    faq.active = bool(form.active.data)
    kept = {normalise_key(a.text): a for a in faq.alternates}
    faq.alternates = [kept.get(normalise_key(t)) or AlternateQuestion(text=t) for t in alternates]
    for alternate, text in zip(faq.alternates, alternates, strict=True):
        alternate.text = text
    return True


def _save(session: Session, faq: Faq, form: FaqForm) -> bool:
    """Validate, write and commit in one go; on any problem nothing is written."""
    if not form.validate_on_submit():
        return False
    if not apply_form(session, faq, form):
        session.rollback()
        return False
    if faq.id is None:
        session.add(faq)
    try:
        session.flush()
        if form.queries.data:
            finish_created_faq(session, faq, parse_ids(form.queries.data))
        session.commit()
    except IntegrityError:
        session.rollback()
        form.question.errors.append("Another FAQ has this question.")
        return False
    for other, similarity in near_duplicates(session, faq.question, faq.id):
        flash(
            f"Warning: this question is nearly identical to FAQ #{other.id} "
            f"“{other.question}” (similarity {similarity:.2f}). Saved anyway; "
            "merge them if they mean the same.",
            "warning",
        )
    request_reindex()
    return True


@bp.get("/faqs")
def faq_list() -> Any:
    session = get_session()
    q = query_text("q")
    category = query_text("category")
    status = request.args.get("status", "active")
    pending_pairs = (
        select(func.count(TrainingPair.id))
        .where(TrainingPair.faq_id == Faq.id, TrainingPair.approved.is_(False))
        .scalar_subquery()
    )
    statement = select(Faq).options(selectinload(Faq.alternates), selectinload(Faq.training_pairs))
    if q:
        like = f"%{q}%"
        statement = statement.where(
            or_(
                Faq.question.ilike(like),
                Faq.answer.ilike(like),
                Faq.alternates.any(AlternateQuestion.text.ilike(like)),
            )
        )
    if category:
        statement = statement.where(Faq.category == category)
    if status in ("active", "inactive"):
        statement = statement.where(Faq.active.is_(status == "active"))
    page = paginate(session, statement.order_by(Faq.id), page_number())
    categories = [
        c for c in session.scalars(select(Faq.category).distinct().order_by(Faq.category)) if c
    ]
    pending = {
        faq_id: count
        for faq_id, count in session.execute(
            select(Faq.id, pending_pairs).where(Faq.id.in_([f.id for f in page.items]))
        )
    }
    return render_template(
        "admin/faq_list.html",
        page=page,
        q=q,
        category=category,
        status=status,
        categories=categories,
        pending=pending,
        action_form=ActionForm(),
    )


def prefill_from_ticket(session: Session, form: FaqForm, ticket_id: str) -> None:
    """A FAQ made from a handoff ticket: the agent's answer, and the user's message as the
    question if it is no longer waiting in the inbox."""
    number = int(ticket_id) if ticket_id.isascii() and ticket_id.isdigit() else -1
    ticket = session.get(Handoff, number) if is_database_id(number) else None
    if ticket is None:
        return
    form.answer.data = ticket.answer or ""
    form.question.data = form.question.data or ticket.message[:500]


@bp.route("/faqs/new", methods=["GET", "POST"])
def faq_new() -> Any:
    session = get_session()
    form = FaqForm()
    if request.method == "GET":
        ids = parse_ids(request.args.get("queries", ""))
        queries = pending_queries(session, ids)
        if queries:
            form.queries.data = ",".join(str(q.id) for q in queries)
            form.question.data = queries[0].text[:500]
        prefill_from_ticket(session, form, request.args.get("handoff", ""))
    faq = Faq()
    if _save(session, faq, form):
        flash(f"FAQ #{faq.id} created; the bot answers it as soon as the index is rebuilt.", "ok")
        return redirect(url_for("admin.faq_edit", faq_id=faq.id))
    status = 422 if form.errors else 200
    queries = pending_queries(session, parse_ids(form.queries.data or ""))
    return render_template("admin/faq_form.html", form=form, faq=None, queries=queries), status


@bp.route("/faqs/<int:faq_id>", methods=["GET", "POST"])
def faq_edit(faq_id: int) -> Any:
    session = get_session()
    faq = get_or_404(Faq, faq_id, "FAQ")
    form = FaqForm(obj=faq if request.method == "GET" else None)
    if request.method == "GET":
        form.alternates.data = "\n".join(a.text for a in faq.alternates)
    if _save(session, faq, form):
        flash("Saved; the bot answers with the change as soon as the index is rebuilt.", "ok")
        return redirect(url_for("admin.faq_edit", faq_id=faq.id))
    status = 422 if form.errors else 200
    return (
        render_template(
            "admin/faq_form.html",
            form=form,
            faq=faq,
            queries=[],
            pairs=faq.training_pairs,
            action_form=ActionForm(),
        ),
        status,
    )


@bp.post("/faqs/<int:faq_id>/toggle")
def faq_toggle(faq_id: int) -> Any:
    session = get_session()
    faq = get_or_404(Faq, faq_id, "FAQ")
    if not faq.active:
        problems = ownership_problems(
            session, faq.id, faq.question, [a.text for a in faq.alternates]
        )
        if problems:
            flash(" ".join(sum(problems.values(), [])), "error")
            return redirect(url_for("admin.faq_edit", faq_id=faq.id))
    faq.active = not faq.active
    session.commit()
    request_reindex()
    flash(f"FAQ #{faq.id} {'activated' if faq.active else 'deactivated'}.", "ok")
    return redirect(safe_next(request.form.get("next"), url_for("admin.faq_list")))


@bp.route("/faqs/<int:faq_id>/delete", methods=["GET", "POST"])
def faq_delete(faq_id: int) -> Any:
    """GET asks for confirmation (no JavaScript here); POST deletes with pairs and alternates."""
    session = get_session()
    faq = get_or_404(Faq, faq_id, "FAQ")
    if request.method == "GET":
        return render_template("admin/faq_delete.html", faq=faq, action_form=ActionForm())
    session.delete(faq)
    session.commit()
    request_reindex()
    flash(f"FAQ #{faq_id} “{faq.question}” deleted.", "ok")
    return redirect(url_for("admin.faq_list"))
