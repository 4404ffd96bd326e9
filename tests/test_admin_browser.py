"""The admin UI in headless Chromium against the real app under waitress.

Screenshots of the main pages land in tests/artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import random
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from admin_browser.server import CHROMIUM_ARGS
from admin_browser.server import chromium_or_skip
from admin_browser.server import live_server
from admin_browser.server import screenshot
from admin_browser.support import PASSWORD
from admin_browser.support import USERNAME
from admin_browser.support import settle
from playwright.sync_api import expect
from sqlalchemy import select

from bot.db import new_session
from bot.jobs import work
from bot.models import Faq
from bot.models import OutOfScopeExample
from bot.models import QueryLog
from bot.models import TrainingPair

pytest_plugins = ["admin_browser.support"]

NEW_QUESTION = "Bisakah FinBuddy terhubung ke e-wallet?"
NEW_ANSWER = "Bisa, lewat menu Integrasi di Pengaturan."
UNANSWERED = [
    "cara export data ke excel gmn",
    "Cara export data ke Excel gmn",
    "bisa export ke excel ga min",
    "ada fitur dark mode?",
    "kok aplikasinya lemot banget",
    "kok aplikasinya lemot banget",
    "kok aplikasinya lemot banget",
    "bisa pesen tiket pesawat lewat sini?",
]


@pytest.fixture
def browser():  # noqa: ANN201
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def seed_history(app) -> None:  # noqa: ANN001
    """A month of plausible traffic, so the dashboard has something to draw."""
    rng = random.Random(7)
    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    with new_session(app) as session:
        faq_ids = session.scalars(select(Faq.id).order_by(Faq.id)).all()
        popular = faq_ids[:8]
        for days_ago in range(30):
            for _ in range(rng.randint(4, 16) + (30 - days_ago) // 3):
                fallback = rng.random() < 0.18
                session.add(
                    QueryLog(
                        text="(older message)",
                        channel=rng.choice(["telegram", "telegram", "api"]),
                        faq_id=None if fallback else rng.choice(popular + popular[:3]),
                        fallback=fallback,
                        score=rng.uniform(0.1, 0.4) if fallback else rng.uniform(0.85, 0.99),
                        review_status="ignored" if fallback else "new",
                        created_at=now - timedelta(days=days_ago, minutes=rng.randint(0, 600)),
                    )
                )
        for minutes, text in enumerate(UNANSWERED):
            session.add(
                QueryLog(
                    text=text,
                    channel="telegram",
                    fallback=True,
                    score=0.2,
                    created_at=now - timedelta(minutes=minutes * 37),
                )
            )
        session.commit()


def test_admin_journey_in_a_real_browser(admin_app, browser):
    seed_history(admin_app)
    with live_server(admin_app) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 860})

        # Sign in; the login page is all a stranger sees.
        page.goto(f"{base}/admin/faqs")
        assert "/admin/login" in page.url
        page.fill("#username", USERNAME)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/faqs")
        assert page.locator("h1").inner_text() == "FAQs"
        screenshot(page, "faq-list")

        # Create a FAQ with alternates.
        page.click("text=New FAQ")
        page.fill("#question", NEW_QUESTION)
        page.fill("#answer", NEW_ANSWER)
        page.fill("#category", "fitur")
        page.fill("#alternates", "konek ke e-wallet bisa?\nFinBuddy support OVO?")
        page.click("button:has-text('Save')")
        page.wait_for_selector(".flash.ok")
        assert "created" in page.locator(".flash.ok").inner_text()
        screenshot(page, "faq-edit")

        # The test panel answers it at once (it waits for the background re-index).
        page.click("nav >> text=Test")
        page.fill("#message", "FinBuddy support OVO?")
        page.click("button:has-text('Ask')")
        heading = page.locator(".reply h2").inner_text()
        assert heading == f"Answered with “{NEW_QUESTION}”"
        assert NEW_ANSWER in page.locator(".bot-says").inner_text()
        expect(page.locator(".candidates tbody tr")).to_have_count(3)
        screenshot(page, "test-panel")

        # Import a CSV with one bad row: the error names line and column; nothing written.
        csv_file = (
            "question,answer,category,alternates\n"
            "Apa itu anggaran?,Rencana pengeluaran bulanan.,dasar,\n"
            "Pertanyaan tanpa jawaban?,,fitur,\n"
        )
        page.click("nav >> text=Import / export")
        page.set_input_files(
            "#file",
            files=[{"name": "faq.csv", "mimeType": "text/csv", "buffer": csv_file.encode()}],
        )
        page.click("button:has-text('Upload and preview')")
        problems = page.locator("table.problems tbody tr")
        expect(problems).to_have_count(1)
        assert problems.first.inner_text().split("\t") == ["3", "answer", "must not be empty"]
        expect(page.locator("text=nothing imported")).to_have_count(1)
        screenshot(page, "import-errors")
        with new_session(admin_app) as session:
            assert (
                session.scalars(select(Faq).filter_by(question="Apa itu anggaran?")).first()
                is None
            )

        # A user asks something the bot cannot answer; attach it to the new FAQ.
        user = admin_app.test_client()
        for text in ("min bisa sambungin ke dana gak", "min bisa sambungin ke DANA gak?"):
            reply = user.post("/api/chat", json={"message": text, "channel": "telegram"})
            assert reply.status_code == 200
        with new_session(admin_app) as session:  # make sure both count as unanswered
            for entry in session.scalars(select(QueryLog).where(QueryLog.text.like("min bisa%"))):
                entry.fallback, entry.score = True, 0.05
            session.commit()
        page.click("nav >> text=Inbox")
        cluster = page.locator("section.cluster", has_text="min bisa sambungin")
        expect(cluster).to_have_count(1)
        cluster.locator("select").select_option(label=NEW_QUESTION)
        screenshot(page, "inbox")
        cluster.locator("button:has-text('Attach to FAQ')").click()
        page.wait_for_selector(".flash.ok")
        assert "to FAQ #" in page.locator(".flash.ok").inner_text()
        expect(page.locator("section.cluster", has_text="min bisa sambungin")).to_have_count(0)
        with new_session(admin_app) as session:
            texts = session.scalars(
                select(TrainingPair.text).join(Faq).where(Faq.question == NEW_QUESTION)
            ).all()
        assert "min bisa sambungin ke dana gak" in texts
        settle(admin_app)

        # Not our topic: the message joins the reject class (indexed before the page returns).
        tickets = page.locator("section.cluster", has_text="tiket pesawat")
        tickets.locator("button:has-text('Not our topic')").click()
        page.wait_for_selector(".flash.ok")
        assert "Not our topic: 1 message(s)" in page.locator(".flash.ok").inner_text()
        expect(page.locator("section.cluster", has_text="tiket pesawat")).to_have_count(0)

        # The Out of scope page lists it; search, then add one by hand.
        page.click("nav >> text=Out of scope")
        page.fill("input[name=q]", "pesen tiket pesawat")
        page.click("button:has-text('Filter')")
        rows = page.locator("table.out-of-scope tbody tr")
        expect(rows).to_have_count(1)
        assert "inbox" in rows.first.inner_text()
        page.click("text=New example")
        page.fill("#text", "Apa itu mode mewah?")  # an FAQ's own question: refused
        page.click("button:has-text('Save')")
        assert "is a phrasing of FAQ #" in page.locator(".field .error").inner_text()
        page.fill("#text", "top up diamond mobile legends murah dmn")
        page.click("button:has-text('Save')")
        page.wait_for_selector(".flash.ok")
        assert "Out-of-scope example added" in page.locator(".flash.ok").inner_text()
        screenshot(page, "out-of-scope")
        with new_session(admin_app) as session:
            sources = dict(
                session.execute(
                    select(OutOfScopeExample.text, OutOfScopeExample.source).where(
                        OutOfScopeExample.source.in_(["inbox", "admin"])
                    )
                ).all()
            )
        assert sources == {
            "bisa pesen tiket pesawat lewat sini?": "inbox",
            "top up diamond mobile legends murah dmn": "admin",
        }
        settle(admin_app)

        page.click("nav >> text=Dashboard")
        expect(page.locator(".chart .day")).to_have_count(30)
        screenshot(page, "dashboard")
        # Retrain (tiny model, quick settings): progress while it runs, then the metrics.
        page.click("nav >> text=Retrain")
        expect(page.locator("table.versions tbody tr")).to_have_count(1)
        page.fill("#epochs", "1")
        page.fill("#learning_rate", "0.001")
        page.click("button:has-text('Start retraining')")
        assert "queued" in page.locator(".flash.ok").inner_text()
        screenshot(page, "retrain-queued")
        assert work(admin_app, once=True) == 1  # the worker process's loop
        page.goto(f"{base}/admin/retrain")
        expect(page.get_by_text("Created v2 in")).to_have_count(1)
        expect(page.locator("table.versions tbody tr")).to_have_count(2)
        screenshot(page, "retrain")
        page.click("nav >> text=Training pairs")
        screenshot(page, "pairs")

        page.click("button:has-text('Sign out')")
        page.wait_for_url(f"{base}/admin/login")
        page.goto(f"{base}/admin/")
        assert "/admin/login" in page.url
        page.close()


def test_signing_out_ends_the_session_on_every_device_and_failures_are_throttled(
    make_admin_app, browser
):
    app = make_admin_app(ADMIN_LOGIN_LIMIT_USER="2 per minute")
    with live_server(app) as base:
        laptop, phone = browser.new_context(), browser.new_context()
        pages = [laptop.new_page(), phone.new_page()]
        for page in pages:
            page.goto(f"{base}/admin/login")
            page.fill("#username", USERNAME)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/admin/")
        pages[0].click("button:has-text('Sign out')")
        pages[0].wait_for_url(f"{base}/admin/login")
        pages[1].goto(f"{base}/admin/faqs")  # the phone's cookie is still there, but void
        assert "/admin/login" in pages[1].url

        for attempt in range(3):
            pages[1].fill("#username", USERNAME)
            pages[1].fill("#password", f"wrong-{attempt}")
            with pages[1].expect_navigation():
                pages[1].click("button[type=submit]")
        expect(pages[1].get_by_text("Too many failed sign-in attempts")).to_be_visible()
        screenshot(pages[1], "login-throttled")
        laptop.close()
        phone.close()


def test_handoff_page_answer_a_ticket_and_turn_it_into_a_faq(admin_app, browser):
    from bot.handoff import open_ticket

    asked = "min, bisa bayar tagihan pdam lewat finbuddy?"
    with new_session(admin_app) as session:
        for text, channel, history in (
            (asked, "telegram", ["halo min", "mau tanya soal tagihan"]),
            ("kapan fitur investasi rilis?", "api", []),
        ):
            log = QueryLog(text=text, channel=channel, fallback=True, score=0.2)
            session.add(log)
            session.commit()
            open_ticket(session, log, "sari@example.com" if channel == "api" else "4711", history)
    with live_server(admin_app) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/admin/login")
        page.fill("#username", USERNAME)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.click("nav >> text=Handoff")
        first = page.locator("section.ticket").first
        assert asked in first.locator("h2").inner_text()  # the oldest open ticket on top
        expect(first.locator(".conversation li")).to_have_count(3)
        first.locator("textarea").fill("Belum bisa ya kak, baru tagihan listrik.")
        first.locator("button:has-text('Send answer')").click()
        page.wait_for_selector(".flash.ok")
        assert "answered" in page.locator(".flash.ok").inner_text()
        screenshot(page, "handoff")

        answered = page.locator("section.ticket", has_text=asked)
        assert answered.locator(".badge").inner_text() == "answered"  # now below the open one
        answered.locator("button:has-text('New FAQ from this')").click()
        assert page.input_value("#question") == asked
        assert page.input_value("#answer") == "Belum bisa ya kak, baru tagihan listrik."
        page.fill("#question", "Bisakah membayar tagihan PDAM di FinBuddy?")
        page.click("button:has-text('Save')")
        page.wait_for_selector(".flash.ok")
        assert "created" in page.locator(".flash.ok").inner_text()
        page.close()
    settle(admin_app)
    reply = admin_app.test_client().post("/api/chat", json={"message": asked}).get_json()
    assert reply["question"] == "Bisakah membayar tagihan PDAM di FinBuddy?"
    assert reply["answer"] == "Belum bisa ya kak, baru tagihan listrik."
