from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.csv_io import read_faq_csv
from bot.csv_io import read_pairs_csv
from bot.db import new_session
from bot.models import Faq
from bot.models import TrainingPair
from training.tabular import CsvValidationError

GOOD = (
    "question,answer,category,alternates\n"
    "Apa itu dompet bersama?,Dompet bersama dipakai berdua.,fitur,"
    "Dompet bareng itu apa? | Shared wallet?\n"
    '"Bisa bayar, nggak?","Belum bisa, ya.",umum,\n'
)


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def faq_snapshot(app):
    with new_session(app) as session:
        return sorted((f.question, f.answer, f.active) for f in session.scalars(select(Faq)))


def test_valid_file_parses_with_alternates_and_quoted_commas(tmp_path):
    records = read_faq_csv(write(tmp_path, "faq.csv", GOOD))
    assert [r.question for r in records] == ["Apa itu dompet bersama?", "Bisa bayar, nggak?"]
    assert records[0].alternates == ("Dompet bareng itu apa?", "Shared wallet?")
    assert records[1].alternates == ()
    assert [r.line for r in records] == [2, 3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("question,answer\n,Jawaban\n", [(2, "question", "must not be empty")]),
        ("question,answer\nTanya?,\n", [(2, "answer", "must not be empty")]),
        ("question\nTanya?\n", [(1, "answer", "required column is missing")]),
        (
            "question,answer,colour\nA?,B\n",
            [(1, "colour", "unknown column"), (2, None, "expected 3 fields, found 2")],
        ),
        ("question,answer\nA?,B,C\n", [(2, None, "expected 2 fields, found 3")]),
        ("", [(1, None, "the file is empty")]),
        (
            "question,answer,category,alternates\nA?,x,,\nB?,y,,a?\n",
            [(3, "alternates", "'a?' already appears on line 2 (question)")],
        ),
    ],
)
def test_every_problem_is_reported_with_line_and_column(tmp_path, text, expected):
    with pytest.raises(CsvValidationError) as caught:
        read_faq_csv(write(tmp_path, "bad.csv", text))
    found = [(p.line, p.column, p.message) for p in caught.value.problems]
    assert found == expected


def test_multiline_answers_keep_physical_line_numbers(tmp_path):
    text = 'question,answer\nA?,"baris satu\nbaris dua"\n,kosong\n'
    with pytest.raises(CsvValidationError) as caught:
        read_faq_csv(write(tmp_path, "multi.csv", text))
    assert [(p.line, p.column) for p in caught.value.problems] == [(4, "question")]


def test_non_utf8_file_is_rejected_with_its_line(tmp_path):
    text = "question,answer\nA?,b\nKenapa?,caf\u00e9\n"
    with pytest.raises(CsvValidationError) as caught:
        read_faq_csv(write(tmp_path, "latin.csv", text, encoding="latin-1"))
    assert [(p.line, p.message) for p in caught.value.problems] == [(3, "not UTF-8 text")]


def test_import_faq_cli_creates_and_updates(app, runner, tmp_path):
    result = runner.invoke(args=["import-faq", str(write(tmp_path, "faq.csv", GOOD))])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated" in result.output
    updated = GOOD.replace("Belum bisa, ya.", "Sudah bisa!")
    result = runner.invoke(args=["import-faq", str(write(tmp_path, "faq2.csv", updated))])
    assert "0 created, 2 updated" in result.output
    assert ("Bisa bayar, nggak?", "Sudah bisa!", True) in faq_snapshot(app)


def test_malformed_file_is_rejected_whole_and_nothing_is_written(app, runner, tmp_path):
    before = faq_snapshot(app)
    bad = GOOD + "Pertanyaan baru yang valid?,Jawaban valid,umum,\n,Tanpa pertanyaan,umum,\n"
    result = runner.invoke(args=["import-faq", str(write(tmp_path, "bad.csv", bad))])
    assert result.exit_code == 1
    assert "line 5, column 'question': must not be empty" in result.output
    assert "nothing was imported" in result.output
    assert faq_snapshot(app) == before


def test_alternate_owned_by_another_faq_in_the_database_is_rejected(app, runner, tmp_path):
    text = "question,answer,category,alternates\nTopik baru?,Jawab.,umum,Apa itu FinBuddy?\n"
    result = runner.invoke(args=["import-faq", str(write(tmp_path, "clash.csv", text))])
    assert result.exit_code == 1
    assert "line 2, column 'alternates'" in result.output
    assert "already belongs to another FAQ" in result.output


def test_export_then_import_round_trips(app, runner, tmp_path):
    exported = tmp_path / "export.csv"
    result = runner.invoke(args=["export-faq", str(exported)])
    assert result.exit_code == 0, result.output
    records = read_faq_csv(exported)
    assert len(records) == 30
    dashboard = next(r for r in records if r.question.startswith("Bagaimana cara mengakses dash"))
    assert "Bro, dashboard di FinBuddy dibuka gimana?" in dashboard.alternates
    before = faq_snapshot(app)
    result = runner.invoke(args=["import-faq", str(exported)])
    assert "0 created, 30 updated" in result.output
    assert faq_snapshot(app) == before


def test_pairs_with_an_unknown_question_are_rejected_whole(app, runner, tmp_path):
    text = (
        "paraphrase,question\n"
        "gmn login hp baru,Bagaimana cara login jika saya berganti perangkat?\n"
        "halo,Pertanyaan yang tidak ada?\n"
    )
    with new_session(app) as session:
        pairs_before = session.query(TrainingPair).count()
    result = runner.invoke(args=["import-pairs", str(write(tmp_path, "pairs.csv", text))])
    assert result.exit_code == 1
    assert "line 3, column 'question': no FAQ has the question" in result.output
    with new_session(app) as session:
        assert session.query(TrainingPair).count() == pairs_before


def test_pairs_file_marks_out_of_scope_with_an_empty_question(tmp_path):
    records = read_pairs_csv(write(tmp_path, "p.csv", "paraphrase,question\ncuaca hari ini,\n"))
    assert records[0].question is None
