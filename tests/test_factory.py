from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy import select

from bot import create_app
from bot.catalog import count_active_faqs
from bot.db import new_session
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import TrainingPair

REQUIRED_QUESTIONS = [
    "Apa itu FinBuddy?",
    "Bagaimana cara mengakses dashboard keuangan?",
    "Kenapa dashboard saya kosong?",
    "Kenapa data pengeluaran saya gak tersimpan?",
    "Bagaimana cara memasukkan data pendapatan?",
    "Cara masukkan pengeluaran per item?",
    "Cara akses rekomendasi tabungan?",
    "Apa itu mode mewah?",
    "Apa itu mode normal?",
    "Hemat, sedang, boros itu maksudnya apa, bro?",
    "Ini ada fitur apa aja?",
    "Bagaimana cara login jika saya berganti perangkat?",
    "Apa FinBuddy bisa digunakan secara offline?",
]


def test_first_start_migrates_and_seeds_the_database(app, database_url):
    engine = app.extensions["db_engine"]
    tables = set(inspect(engine).get_table_names())
    assert {"faq", "alternate_question", "training_pair", "query_log", "model_version"} <= tables
    assert "alembic_version" in tables
    expected = database_url or "sqlite:///" + str(Path(app.instance_path) / "faq_bot.sqlite3")
    assert engine.url.render_as_string(hide_password=False) == expected
    with new_session(app) as session:
        questions = set(session.scalars(select(Faq.question)))
        assert set(REQUIRED_QUESTIONS) <= questions
        assert len(questions) >= 25
        assert session.query(TrainingPair).count() >= 150
        dashboard = session.scalars(
            select(Faq).where(Faq.question == "Bagaimana cara mengakses dashboard keuangan?")
        ).one()
        alternates = {a.text for a in dashboard.alternates}
        assert "Bro, dashboard di FinBuddy dibuka gimana?" in alternates


def test_second_start_does_not_seed_again(make_app):
    """Edits made after the first start survive the next one (a re-seed would undo them)."""
    app = make_app()
    with new_session(app) as session:
        faq = session.scalars(select(Faq).order_by(Faq.id)).first()
        faq.answer = "Edited by an admin."
        session.delete(session.scalars(select(AlternateQuestion)).first())
        session.delete(session.scalars(select(TrainingPair)).first())
        session.commit()
        counts = (
            session.query(AlternateQuestion).count(),
            session.query(TrainingPair).count(),
        )
    app = make_app()
    with new_session(app) as session:
        assert session.get(Faq, faq.id).answer == "Edited by an admin."
        assert counts == (
            session.query(AlternateQuestion).count(),
            session.query(TrainingPair).count(),
        )


def test_deactivating_every_faq_does_not_bring_the_seed_back(make_app):
    app = make_app()
    with new_session(app) as session:
        for faq in session.scalars(select(Faq)):
            faq.active = False
        session.commit()
    app = make_app()
    with new_session(app) as session:
        assert count_active_faqs(session) == 0


def test_empty_database_when_seeding_is_off(make_app):
    app = make_app(BOT_SEED_ON_EMPTY=False)
    with new_session(app) as session:
        assert count_active_faqs(session) == 0


def test_configuration_comes_from_the_environment(monkeypatch, tmp_path, database_url):
    url = database_url or "sqlite:///" + str(tmp_path / "custom.sqlite3")
    monkeypatch.setenv("BOT_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BOT_THRESHOLD", "0.42")
    monkeypatch.setenv("BOT_SEED_ON_EMPTY", "0")
    monkeypatch.setenv("BOT_AUTO_INIT", "yes")
    app = create_app({"TESTING": True})
    assert app.instance_path == str(tmp_path / "elsewhere")
    assert app.config["BOT_THRESHOLD"] == 0.42
    assert app.extensions["db_engine"].url.render_as_string(hide_password=False) == url
    assert "faq" in inspect(app.extensions["db_engine"]).get_table_names()
    app.extensions["db_engine"].dispose()


def test_migrations_downgrade_and_upgrade_cleanly(tmp_path, database_url):
    from alembic import command
    from sqlalchemy import create_engine

    from bot.migrations import alembic_config
    from bot.migrations import upgrade_database

    url = database_url or "sqlite:///" + str(tmp_path / "migrate.sqlite3")
    engine = create_engine(url)
    upgrade_database(engine)
    config = alembic_config(url)
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade_database(engine)
    assert "admin_user" in inspect(engine).get_table_names()
    engine.dispose()
