"""Out-of-scope examples in the database: seeded, imported, exported, refused when bad."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bot.db import new_session
from bot.models import OutOfScopeExample
from bot.models import TrainingPair
from bot.out_of_scope import approved_texts


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def examples(app) -> dict[str, tuple[str, bool]]:  # noqa: ANN001
    with new_session(app) as session:
        return {e.text: (e.source, e.approved) for e in session.scalars(select(OutOfScopeExample))}


def test_an_empty_database_is_seeded_with_the_shipped_corpus(app):
    seeded = examples(app)
    assert len(seeded) == 330
    assert seeded["harga bitcoin hari ini brp rupiah"] == ("seed", True)


def test_seeding_can_be_switched_off(make_app):
    app = make_app(BOT_SEED_OOS_FILE="")
    assert examples(app) == {}


def test_seed_oos_loads_another_file_and_skips_known_examples(app, runner, tmp_path):
    path = write(
        tmp_path,
        "oos.csv",
        "paraphrase,question\nharga bitcoin hari ini brp rupiah,\njual pulsa murah dmn,\n",
    )
    result = runner.invoke(args=["seed", "--oos", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 out-of-scope examples added" in result.output
    assert examples(app)["jual pulsa murah dmn"] == ("seed", True)
    assert len(examples(app)) == 331


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "paraphrase,question\nsaham apa yg bagus,\nbeli pulsa dmn,Apa itu FinBuddy?\n",
            ["line 3, column 'question': must be empty"],
        ),
        (
            "paraphrase,question\njual pulsa,\n,\nJUAL  pulsa,\n",
            [
                "line 3, column 'paraphrase': must not be empty",
            ],
        ),
        (
            "paraphrase,question\njual pulsa,\nbeli token,\nJUAL  pulsa,\n",
            ["line 4, column 'paraphrase': 'JUAL pulsa' already appears on line 2"],
        ),
        (
            "paraphrase,question\ncuaca besok,\nApa itu mode mewah?,\n",
            ["line 3, column 'paraphrase': 'Apa itu mode mewah?' is a phrasing of FAQ #"],
        ),
        ("paraphrase\nhalo,\n", ["line 2: expected 1 fields, found 2"]),
    ],
    ids=["a-question", "empty", "duplicate", "faq-phrasing", "shape"],
)
def test_bad_corpus_rows_are_rejected_whole_with_line_and_column(
    app, runner, tmp_path, text, problems
):
    before = examples(app)
    result = runner.invoke(args=["seed", "--oos", str(write(tmp_path, "bad.csv", text))])
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    for problem in problems:
        assert problem in result.output
    assert examples(app) == before


def test_import_pairs_stores_empty_questions_as_out_of_scope_examples(app, runner, tmp_path):
    text = (
        "paraphrase,question\n"
        "gmn login hp baru bro,Bagaimana cara login jika saya berganti perangkat?\n"
        "jual pulsa murah dmn,\n"
        "harga bitcoin hari ini brp rupiah,\n"
    )
    result = runner.invoke(args=["import-pairs", str(write(tmp_path, "pairs.csv", text))])
    assert result.exit_code == 0, result.output
    assert "1 pairs added, 0 skipped, 1 out-of-scope examples added" in result.output
    assert examples(app)["jual pulsa murah dmn"] == ("import", True)
    with new_session(app) as session:
        assert session.scalar(
            select(func.count()).where(TrainingPair.text == "gmn login hp baru bro")
        )


def test_import_pairs_lists_every_problem_and_writes_nothing(app, runner, tmp_path):
    text = (
        "paraphrase,question\n"
        "gmn login hp baru bro,Bagaimana cara login jika saya berganti perangkat?\n"
        "Apa itu mode normal?,\n"
        "halo,Pertanyaan yang tidak ada?\n"
        "jual pulsa murah dmn,\n"
    )
    with new_session(app) as session:
        pairs_before = session.query(TrainingPair).count()
    before = examples(app)
    result = runner.invoke(args=["import-pairs", str(write(tmp_path, "pairs.csv", text))])
    assert result.exit_code == 1
    assert "line 3, column 'paraphrase': 'Apa itu mode normal?' is a phrasing of FAQ" in (
        result.output
    )
    assert "line 4, column 'question': no FAQ has the question" in result.output
    assert examples(app) == before
    with new_session(app) as session:
        assert session.query(TrainingPair).count() == pairs_before


def test_export_writes_a_pairs_csv_that_imports_back(app, runner, tmp_path):
    exported = tmp_path / "oos.csv"
    result = runner.invoke(args=["export-oos", str(exported)])
    assert result.exit_code == 0 and "Exported 330 out-of-scope examples" in result.output
    with open(exported, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["question"] for row in rows} == {""}
    with new_session(app) as session:
        assert [row["paraphrase"] for row in rows] == approved_texts(session)
    again = runner.invoke(args=["import-pairs", str(exported)])
    assert "0 pairs added, 0 skipped, 0 out-of-scope examples added" in again.output
    to_stdout = runner.invoke(args=["export-oos", "-"])
    assert to_stdout.stdout.splitlines()[0] == "paraphrase,question"


def test_only_approved_examples_are_indexed_and_exported(app, runner):
    with new_session(app) as session:
        session.add(OutOfScopeExample(text="belum disetujui", source="telegram", approved=False))
        session.commit()
        assert "belum disetujui" not in approved_texts(session)
    assert "belum disetujui" not in runner.invoke(args=["export-oos", "-"]).stdout
