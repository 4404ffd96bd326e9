"""Import from CSV and Excel with preview and per-row errors; export as CSV."""

from __future__ import annotations

import csv
import io
import re

from admin_browser.support import post
from admin_browser.support import settle
from hostile_files import workbook
from sqlalchemy import func
from sqlalchemy import select

from bot.db import new_session
from bot.models import AlternateQuestion
from bot.models import Faq

pytest_plugins = ["admin_browser.support"]

GOOD = (
    "question,answer,category,alternates\n"
    "Bisakah FinBuddy terhubung ke e-wallet?,Bisa lewat menu Integrasi.,fitur,"
    "konek e-wallet? | sambung ke OVO?\n"
    "Apa itu mode mewah?,Jawaban baru untuk mode mewah.,mode,\n"
)
ONE_BAD_ROW = (
    "question,answer,category,alternates\n"
    "Bisakah FinBuddy terhubung ke e-wallet?,Bisa lewat menu Integrasi.,fitur,\n"
    "Pertanyaan tanpa jawaban?,,fitur,\n"
    "Apa itu anggaran?,Rencana pengeluaran.,dasar,\n"
)


def upload(admin, name, body):
    return post(
        admin,
        "/admin/import",
        {"file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


def snapshot(app):
    with new_session(app) as session:
        return (
            session.scalar(select(func.count(Faq.id))),
            session.scalar(select(func.count(AlternateQuestion.id))),
            session.scalars(select(Faq.answer).where(Faq.question == "Apa itu mode mewah?")).one(),
        )


def confirm_token(page):
    return re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)


def test_a_valid_csv_is_previewed_then_imported_on_confirm(admin_app, admin):
    before = snapshot(admin_app)
    response = upload(admin, "faq.csv", GOOD.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "valid · 1 new, 1 updated" in page and "Import 2 FAQs" in page
    assert "konek e-wallet? | sambung ke OVO?" in page
    assert snapshot(admin_app) == before  # the preview wrote nothing

    response = post(admin, "/admin/import/confirm", {"token": confirm_token(page)})
    assert response.location == "/admin/faqs"
    count, _, answer = snapshot(admin_app)
    assert count == before[0] + 1 and answer == "Jawaban baru untuk mode mewah."
    with new_session(admin_app) as session:
        statement = select(Faq).where(Faq.question.like("Bisakah FinBuddy terhubung%"))
        new = session.scalars(statement).one()
        assert [a.text for a in new.alternates] == ["konek e-wallet?", "sambung ke OVO?"]
    settle(admin_app)
    reply = admin_app.test_client().post("/api/chat", json={"message": "sambung ke OVO?"})
    assert reply.get_json()["answer"] == "Bisa lewat menu Integrasi."

    again = post(admin, "/admin/import/confirm", {"token": confirm_token(page)})
    assert "expired or was imported already" in admin.get(again.location).get_data(as_text=True)


def test_one_bad_row_rejects_the_file_with_line_and_column(admin_app, admin):
    before = snapshot(admin_app)
    response = upload(admin, "faq.csv", ONE_BAD_ROW.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "1 problem · nothing imported" in page
    assert re.search(r'<td class="num">3</td><td>answer</td><td>must not be empty</td>', page)
    assert '<tr class="bad">' in page and "/admin/import/confirm" not in page
    assert snapshot(admin_app) == before


def test_conflicts_with_the_database_are_found_at_preview(admin_app, admin):
    body = "question,answer,category,alternates\nPertanyaan baru?,Jawab.,,Apa itu mode normal?\n"
    page = upload(admin, "faq.csv", body.encode()).get_data(as_text=True)
    assert "already belongs to another FAQ" in page
    assert snapshot(admin_app)[0] == 30


def test_broken_files_are_reported_not_crashed_on(admin, admin_app):
    cases = [
        (b"", "the file is empty"),
        (b'question,answer\n"unclosed,x\n', "malformed CSV"),
        (b"\xff\xfe\x00bad", "not UTF-8 text"),
        (b"question,answer,colour\nQ?,A.,red\n", "unknown column"),
    ]
    for body, message in cases:
        response = upload(admin, "faq.csv", body)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True), message
    wrong_type = upload(admin, "faq.txt", b"question,answer\nQ?,A.\n")
    assert wrong_type.status_code == 422
    assert "only .csv or .xlsx files" in wrong_type.get_data(as_text=True)
    missing = post(admin, "/admin/import", {}, content_type="multipart/form-data")
    assert missing.status_code == 422
    assert snapshot(admin_app)[0] == 30


def test_an_excel_file_is_checked_like_a_csv_with_excel_row_numbers(admin_app, admin):
    body = workbook(
        [
            ["question", "answer", "category", "alternates"],
            ["Apa itu anggaran?", "Rencana\npengeluaran\nbulanan.", "dasar", None],
            [None, None, None, None],
            ["Pertanyaan tanpa jawaban?", None, "fitur", None],
            ["Berapa biaya FinBuddy?", "Gratis.", 2026, "biaya? | harga?"],
        ]
    )
    response = upload(admin, "faq.xlsx", body)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<th class="num">Row</th>' in page
    assert re.search(r'<td class="num">4</td><td>answer</td><td>must not be empty</td>', page)
    assert snapshot(admin_app)[0] == 30


def test_a_valid_excel_file_imports(admin_app, admin):
    body = workbook(
        [
            ["question", "answer", "category", "alternates"],
            ["Berapa biaya FinBuddy?", "Gratis.", 2026, "biaya? | harga?"],
        ]
    )
    page = upload(admin, "FAQ.XLSX", body).get_data(as_text=True)
    assert "valid · 1 new, 0 updated" in page
    post(admin, "/admin/import/confirm", {"token": confirm_token(page)})
    with new_session(admin_app) as session:
        faq = session.scalars(select(Faq).where(Faq.question == "Berapa biaya FinBuddy?")).one()
        assert faq.category == "2026" and [a.text for a in faq.alternates] == ["biaya?", "harga?"]
    settle(admin_app)


def test_a_file_that_is_not_a_workbook(admin):
    response = upload(admin, "faq.xlsx", b"question,answer\n")
    assert response.status_code == 422
    assert "not a readable .xlsx workbook" in response.get_data(as_text=True)


def test_an_unknown_confirm_token_writes_nothing(admin_app, admin):
    for value in ("../../etc/passwd", "a" * 32):
        response = post(admin, "/admin/import/confirm", {"token": value})
        assert response.location == "/admin/import"
    assert snapshot(admin_app)[0] == 30


def test_export_downloads_the_faqs_in_the_import_format(admin_app, admin):
    response = admin.get("/admin/export.csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 30
    assert list(rows[0]) == ["question", "answer", "category", "alternates"]
    dashboard = next(r for r in rows if r["question"].startswith("Bagaimana cara mengakses"))
    assert "Bro, dashboard di FinBuddy dibuka gimana?" in dashboard["alternates"].split(" | ")
