"""Out-of-scope examples: messages the bot must not answer (its reject class).

Approved examples are indexed at once beside the FAQs; a message nearer to them than to any
FAQ (by the calibrated reject margin) gets the fallback. Pending ones (Telegram "none of
these", or saved unapproved here) change nothing until approved.
"""

from __future__ import annotations

from typing import Any

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy import select

from bot.admin import bp
from bot.admin.common import get_or_404
from bot.admin.common import page_number
from bot.admin.common import paginate
from bot.admin.common import safe_next
from bot.admin.forms import ActionForm
from bot.admin.forms import OutOfScopeForm
from bot.admin.reindex import approve
from bot.admin.reindex import delete
from bot.admin.reindex import request_reindex
from bot.catalog import phrasing_keys
from bot.db import get_session
from bot.models import OutOfScopeExample
from bot.out_of_scope import SOURCES
from bot.out_of_scope import ExampleError
from bot.out_of_scope import check_text


def _back() -> str:
    return safe_next(request.values.get("next"), url_for("admin.out_of_scope_list"))


def _save(example: OutOfScopeExample, form: OutOfScopeForm) -> bool:
    """Validate and save; re-index when what is indexed changed."""
    if not form.validate_on_submit():
        return False
    session = get_session()
    try:
        text = check_text(session, form.text.data, phrasing_keys(session), example.id)
    except ExampleError as exc:
        form.text.errors.append(str(exc))
        return False
    was_indexed = bool(example.approved)
    example.text, example.approved = text, bool(form.approved.data)
    if example.id is None:
        example.source = "admin"
        session.add(example)
    session.commit()
    if was_indexed or example.approved:
        request_reindex()
    return True


@bp.get("/out-of-scope")
def out_of_scope_list() -> Any:
    session = get_session()
    q = " ".join(request.args.get("q", "").split())
    status = request.args.get("status", "all")
    source = request.args.get("source", "")
    statement = select(OutOfScopeExample)
    if q:
        statement = statement.where(OutOfScopeExample.text.ilike(f"%{q}%"))
    if status in ("approved", "pending"):
        statement = statement.where(OutOfScopeExample.approved.is_(status == "approved"))
    if source in SOURCES:
        statement = statement.where(OutOfScopeExample.source == source)
    page = paginate(
        session,
        statement.order_by(OutOfScopeExample.approved, OutOfScopeExample.id.desc()),
        page_number(),
    )
    return render_template(
        "admin/out_of_scope_list.html",
        page=page,
        q=q,
        status=status,
        source=source,
        sources=SOURCES,
        action_form=ActionForm(),
    )


@bp.route("/out-of-scope/new", methods=["GET", "POST"])
def out_of_scope_new() -> Any:
    form = OutOfScopeForm()
    if _save(OutOfScopeExample(), form):
        flash("Out-of-scope example added: the bot gives the fallback for messages like it.", "ok")
        return redirect(_back())
    status = 422 if form.errors else 200
    return render_template("admin/out_of_scope_form.html", form=form, example=None), status


@bp.route("/out-of-scope/<int:example_id>", methods=["GET", "POST"])
def out_of_scope_edit(example_id: int) -> Any:
    example = get_or_404(OutOfScopeExample, example_id, "out-of-scope example")
    form = OutOfScopeForm(obj=example if request.method == "GET" else None)
    if _save(example, form):
        flash("Out-of-scope example saved.", "ok")
        return redirect(_back())
    status = 422 if form.errors else 200
    return render_template("admin/out_of_scope_form.html", form=form, example=example), status


@bp.post("/out-of-scope/<int:example_id>/approve")
def out_of_scope_approve(example_id: int) -> Any:
    if approve(get_session().get(OutOfScopeExample, example_id)):
        flash("Out-of-scope example approved.", "ok")
    return redirect(_back())


@bp.post("/out-of-scope/<int:example_id>/delete")
def out_of_scope_delete(example_id: int) -> Any:
    if delete(get_session().get(OutOfScopeExample, example_id)):
        flash("Out-of-scope example deleted.", "ok")
    return redirect(_back())
