"""Test panel: the bot's real answer, top three FAQs, threshold; kept out of the inbox."""

from __future__ import annotations

from admin_browser.support import login
from admin_browser.support import post
from markupsafe import escape
from sqlalchemy import select

from bot.db import new_session
from bot.models import QueryLog

pytest_plugins = ["admin_browser.support"]


def test_the_panel_shows_the_answer_top_three_and_threshold(admin_app, admin):
    page = admin.get("/admin/test").get_data(as_text=True)
    assert "Ask as a user would" in page
    response = post(admin, "/admin/test", {"message": "Apa itu mode mewah?"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Answered with “Apa itu mode mewah?”" in page
    assert "model v1 · threshold 0." in page
    assert page.count('<tr class="above">') + page.count('<tr class="below">') == 3
    api = admin_app.test_client().post("/api/chat", json={"message": "Apa itu mode mewah?"})
    assert escape(api.get_json()["answer"]) in page


def test_panel_messages_are_logged_apart_from_users(admin_app, admin):
    post(admin, "/admin/test", {"message": "cuaca jakarta hari ini"})
    with new_session(admin_app) as session:
        assert session.scalars(select(QueryLog.channel)).all() == ["admin-test"]
    assert "cuaca jakarta" not in admin.get("/admin/inbox").get_data(as_text=True)
    assert "Nothing to review" in admin.get("/admin/inbox").get_data(as_text=True)


def test_below_the_threshold_the_panel_shows_the_fallback(make_admin_app):
    app = make_admin_app(BOT_THRESHOLD=1.5, BOT_FALLBACK_TEXT="Nanti dijawab admin.")
    client = app.test_client()
    login(client)
    page = post(client, "/admin/test", {"message": "Apa itu mode mewah?"}).get_data(as_text=True)
    assert "Fallback: no FAQ scored above the threshold" in page
    assert "Nanti dijawab admin." in page and "threshold 1.500" in page


def test_an_empty_message_is_a_form_error(admin_app, admin):
    response = post(admin, "/admin/test", {"message": "   "})
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)
    with new_session(admin_app) as session:
        assert session.scalars(select(QueryLog)).all() == []
