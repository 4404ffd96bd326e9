"""Small helpers shared by the admin views: paging, safe redirects, FAQ choices."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask import abort
from flask import request
from flask import url_for
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import SelectChoice

from bot.admin import bp
from bot.db import get_session
from bot.input_rules import forbidden_character
from bot.input_rules import normalise
from bot.models import Faq

PER_PAGE = 25


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def get_or_404(model: type[Any], object_id: int, what: str) -> Any:
    """The row, or the admin's 404 page naming what was not found."""
    found = get_session().get(model, object_id)
    if found is None:
        abort(404, description=f"No such {what}")
    return found


def query_text(name: str) -> str:
    """A text filter from the query string, spacing squashed and NFC-normalised; characters no
    person types are dropped, since a database may refuse them (PostgreSQL: NUL)."""
    text = normalise(" ".join(request.args.get(name, "").split()))
    return "".join(char for char in text if forbidden_character(char) is None)


def page_number() -> int:
    """The ?page= argument; anything odd means the first page rather than an error."""
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def paginate(session: Session, statement: Select, number: int, per_page: int = PER_PAGE) -> Page:
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    number = min(number, max(1, ceil((total or 0) / per_page)))
    items = list(session.scalars(statement.limit(per_page).offset((number - 1) * per_page)))
    return Page(items, number, per_page, total or 0)


def safe_next(target: str | None, default: str) -> str:
    """Only redirect to paths inside /admin: a login link must not send anyone elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not parts.path.startswith("/admin"):
        return default
    return target


def faq_choices(session: Session, include_inactive: bool = False) -> list[SelectChoice]:
    """FAQs for a select box, by question; values are ids (as the forms' coerce=int reads)."""
    statement = select(Faq.id, Faq.question, Faq.active).order_by(Faq.question)
    if not include_inactive:
        statement = statement.where(Faq.active.is_(True))
    return [
        SelectChoice(str(faq_id), question if active else f"{question} (inactive)")
        for faq_id, question, active in session.execute(statement)
    ]


@bp.app_template_global()
def page_url(number: int) -> str:
    """This page's URL with another ?page= (macros see globals, not the request context).

    The query is encoded here, not passed to `url_for`, which reads arguments such as
    `_method` or `_external` as its own options.
    """
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "page"]
    args.append(("page", str(number)))
    path = url_for(request.endpoint or "admin.dashboard", **(request.view_args or {}))
    return f"{path}?{urlencode(args)}"
