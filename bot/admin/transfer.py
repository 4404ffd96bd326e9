"""Import FAQs from CSV or Excel with a preview, and export them as CSV.

An upload is validated whole (the same checks as `flask import-faq`, plus a dry run of the
import against the database) and shown; only "Import" writes, and only if it is still valid.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Response
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy.orm import Session

from bot.admin import bp
from bot.admin.forms import ConfirmImportForm
from bot.admin.forms import ImportForm
from bot.admin.reindex import request_reindex
from bot.admin.spreadsheet import xlsx_to_csv
from bot.catalog import ImportSummary
from bot.catalog import export_rows
from bot.catalog import import_faqs
from bot.csv_io import FAQ_COLUMNS
from bot.csv_io import FaqRecord
from bot.csv_io import faq_frame
from bot.csv_io import read_faq_csv
from bot.db import get_session
from training.tabular import CsvValidationError
from training.tabular import Problem

PREVIEW_ROWS = 200
UPLOAD_TTL_SECONDS = 24 * 3600
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass(frozen=True)
class Checked:
    """An upload after validation: either records and a dry-run summary, or problems."""

    csv_bytes: bytes
    rows: list[tuple[int, list[str]]]  # (line or Excel row, cells) as uploaded, for the preview
    header: list[str]
    records: list[FaqRecord]
    summary: ImportSummary | None
    problems: list[Problem]


def _uploads(app: Any) -> Path:
    return Path(app.instance_path) / "admin-imports"


def _raw_rows(
    csv_bytes: bytes, lines: dict[int, int] | None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The table as uploaded (lenient), each row with the number the problems refer to."""
    text = csv_bytes.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    try:
        start = 1
        for cells in reader:
            if not header:
                header = cells
            elif any(cell.strip() for cell in cells) and len(rows) < PREVIEW_ROWS:
                rows.append(((lines or {}).get(start, start), cells))
            start = reader.line_num + 1
    except csv.Error:
        pass
    return header, rows


def check_upload(session: Session, csv_bytes: bytes, lines: dict[int, int] | None) -> Checked:
    """Validate like `flask import-faq`, then dry-run the import and roll it back."""
    header, rows = _raw_rows(csv_bytes, lines)
    records: list[FaqRecord] = []
    summary = None
    problems: list[Problem] = []
    try:
        records = read_faq_csv(csv_bytes)
        summary = import_faqs(session, records, "upload")
    except CsvValidationError as exc:
        problems = exc.problems
    finally:
        session.rollback()
    if lines:
        problems = [Problem(lines.get(p.line, p.line), p.column, p.message) for p in problems]
    return Checked(csv_bytes, rows, header, records, summary, problems)


def _store(csv_bytes: bytes) -> str:
    """Keep a valid upload until it is confirmed (any worker can read it); prune old ones."""
    folder = _uploads(current_app)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        if time.time() - old.stat().st_mtime > UPLOAD_TTL_SECONDS:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    (folder / f"{token}.csv").write_bytes(csv_bytes)
    return token


@bp.get("/import")
def import_page() -> Any:
    return render_template("admin/import.html", form=ImportForm(), checked=None)


@bp.post("/import")
def import_upload() -> Any:
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template("admin/import.html", form=form, checked=None), 422
    upload = form.file.data
    raw = upload.read()
    is_excel = upload.filename.lower().endswith(".xlsx")
    lines: dict[int, int] | None = None
    if is_excel:
        try:
            raw, lines = xlsx_to_csv(raw)
        except CsvValidationError as exc:
            checked = Checked(raw, [], [], [], None, exc.problems)
            return _preview(form, checked, is_excel, upload.filename), 422
    checked = check_upload(get_session(), raw, lines)
    return _preview(form, checked, is_excel, upload.filename), 422 if checked.problems else 200


def _preview(form: ImportForm, checked: Checked, is_excel: bool, filename: str) -> str:
    confirm = None
    if not checked.problems:
        confirm = ConfirmImportForm(formdata=None, token=_store(checked.csv_bytes))
    bad = {p.line for p in checked.problems}
    return render_template(
        "admin/import.html",
        form=form,
        checked=checked,
        confirm=confirm,
        bad_lines=bad,
        unit="row" if is_excel else "line",
        filename=filename,
        columns=FAQ_COLUMNS,
    )


@bp.post("/import/confirm")
def import_confirm() -> Any:
    form = ConfirmImportForm()
    token = form.token.data or ""
    path = _uploads(current_app) / f"{token}.csv"
    if not form.validate_on_submit() or not TOKEN_PATTERN.match(token) or not path.is_file():
        flash("That upload has expired or was imported already; upload the file again.", "error")
        return redirect(url_for("admin.import_page"))
    session = get_session()
    try:
        summary = import_faqs(session, read_faq_csv(path.read_bytes()), "upload")
        session.commit()
    except CsvValidationError as exc:
        session.rollback()
        flash(f"Nothing was imported: the FAQs changed since the preview. {exc}", "error")
        return redirect(url_for("admin.import_page"))
    path.unlink(missing_ok=True)
    request_reindex()
    flash(f"Imported: {summary.created} FAQ(s) created, {summary.updated} updated.", "ok")
    return redirect(url_for("admin.faq_list"))


@bp.get("/export.csv")
def export_csv() -> Response:
    include_inactive = request.args.get("inactive") == "1"
    rows = export_rows(get_session(), include_inactive)
    body = faq_frame(rows).to_csv(index=False)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=faq.csv"},
    )
