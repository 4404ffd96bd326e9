"""One set of text rules everywhere: NFC before matching and duplicate checks, refusals,
and spreadsheet-safe CSV exports that import back unchanged."""

from __future__ import annotations

import csv
import io

import pytest
from admin_browser.support import post
from sqlalchemy import select

from bot.csv_io import neutralise
from bot.csv_io import read_faq_csv
from bot.csv_io import restore
from bot.db import new_session
from bot.input_rules import forbidden_character
from bot.models import Faq
from bot.models import QueryLog
from training.tabular import CsvValidationError
from training.tabular import normalise_key

pytest_plugins = ["admin_browser.support"]

COMPOSED = "Apa itu caf\u00e9?"
DECOMPOSED = "Apa itu cafe\u0301?"


def test_decomposed_and_composed_text_are_one_key():
    assert COMPOSED != DECOMPOSED
    assert normalise_key(DECOMPOSED) == normalise_key(COMPOSED) == normalise_key("APA ITU CAFÉ?")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("baris\nbaru\r\n\tdan tab", None),
        ("emoji 😀 dan aksara ꦗꦮ", None),
        ("a\x00b", "U+0000"),
        ("\x7f", "U+007F"),
        ("\x85", "U+0085"),
        ("\ud800", "lone surrogate (U+D800)"),
    ],
)
def test_forbidden_characters(text, found):
    described = forbidden_character(text)
    assert described is None if found is None else found in described


def test_the_api_logs_and_matches_the_nfc_form(app, client):
    decomposed = client.post("/api/chat", json={"message": DECOMPOSED}).get_json()
    composed = client.post("/api/chat", json={"message": COMPOSED}).get_json()
    assert decomposed["score"] == composed["score"]
    with new_session(app) as session:
        assert set(session.scalars(select(QueryLog.text))) == {COMPOSED}


def test_the_csv_reader_finds_duplicates_in_any_unicode_form():
    body = f"question,answer,alternates\n{COMPOSED},Satu.,\nLain?,Dua.,{DECOMPOSED}\n"
    with pytest.raises(CsvValidationError, match="already appears on line 2"):
        read_faq_csv(body.encode())
    [record] = read_faq_csv(f"question,answer\n{DECOMPOSED},Ya.\n".encode())
    assert record.question == COMPOSED  # stored in one form


def test_the_faq_form_refuses_a_decomposed_copy_of_another_faqs_question(admin_app, admin):
    created = post(
        admin, "/admin/faqs/new", {"question": COMPOSED, "answer": "Kopi.", "active": "y"}
    )
    assert created.status_code == 302
    copy = post(
        admin,
        "/admin/faqs/new",
        {"question": "Pertanyaan lain?", "answer": "Lain.", "alternates": DECOMPOSED},
    )
    assert copy.status_code == 422
    assert "already belongs to FAQ" in copy.get_data(as_text=True)
    with new_session(admin_app) as session:
        assert session.scalars(select(Faq.question).where(Faq.question == COMPOSED)).one()


@pytest.mark.parametrize(
    "cell", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "'=x", "''+y"]
)
def test_formula_cells_are_neutralised_and_restored(cell):
    escaped = neutralise(cell)
    assert escaped.startswith("'") and restore(escaped) == cell


@pytest.mark.parametrize("cell", ["Apa itu?", "'quoted'", "a=b", "", "100%"])
def test_ordinary_cells_are_left_alone(cell):
    assert neutralise(cell) == cell == restore(cell)


def test_an_exported_formula_is_neutralised_and_imports_back_unchanged(admin_app, admin, tmp_path):
    answer = "=cmd|' /C calc'!A0"
    fields = {"question": "@Apa itu?", "answer": answer, "category": "-x", "active": "y"}
    assert post(admin, "/admin/faqs/new", fields).status_code == 302
    exported = admin.get("/admin/export.csv").get_data(as_text=True)
    row = next(r for r in csv.DictReader(io.StringIO(exported)) if "Apa itu?" in r["question"])
    assert row == {
        "question": "'@Apa itu?",
        "answer": "'" + answer,
        "category": "'-x",
        "alternates": "",
    }
    [record] = [r for r in read_faq_csv(exported.encode()) if r.question == "@Apa itu?"]
    assert (record.answer, record.category) == (answer, "-x")

    runner = admin_app.test_cli_runner()
    path = tmp_path / "faq.csv"
    assert runner.invoke(args=["export-faq", str(path)]).exit_code == 0
    assert "'=cmd" in path.read_text()
    result = runner.invoke(args=["import-faq", str(path)])
    assert result.exit_code == 0, result.output
    with new_session(admin_app) as session:
        faq = session.scalars(select(Faq).where(Faq.question == "@Apa itu?")).one()
        assert (faq.answer, faq.category) == (answer, "-x")
