"""The "Out of scope" page and the inbox's "not our topic": the reject class in the admin."""

from __future__ import annotations

from datetime import datetime
from datetime import timezone

import pytest
from admin_browser.support import post
from admin_browser.support import settle
from sqlalchemy import func
from sqlalchemy import select

from bot.db import new_session
from bot.models import ModelVersion
from bot.models import OutOfScopeExample
from bot.models import QueryLog

pytest_plugins = ["admin_browser.support"]


@pytest.fixture
def admin_app(make_admin_app):  # noqa: ANN001, ANN201
    """The tiny test model's calibrated threshold and margin refuse at random; with both out of
    the way, only copies of an example are refused, so what the admin changes is what is tested.
    """
    return make_admin_app(BOT_THRESHOLD=-1.0, BOT_REJECT_MARGIN=10.0)


def ask(app, text):
    return app.test_client().post("/api/chat", json={"message": text}).get_json()


def example(app, text):
    with new_session(app) as session:
        return session.scalars(
            select(OutOfScopeExample).where(OutOfScopeExample.text == text)
        ).first()


def count(app):
    with new_session(app) as session:
        return session.scalar(select(func.count(OutOfScopeExample.id)))


def log(app, text):
    with new_session(app) as session:
        entry = QueryLog(
            text=text,
            channel="telegram",
            fallback=True,
            score=0.1,
            created_at=datetime(2026, 11, 20, tzinfo=timezone.utc),
        )
        session.add(entry)
        session.commit()
        return entry.id


def test_list_searches_and_filters(admin_app, admin):
    page = admin.get("/admin/out-of-scope").get_data(as_text=True)
    assert "330 examples" in page and "Out of scope" in page
    found = admin.get("/admin/out-of-scope?q=bitcoin").get_data(as_text=True)
    assert "harga bitcoin hari ini brp rupiah" in found and "cuaca" not in found
    assert "3 examples" in found  # bitcoin appears in three shipped messages
    assert "0 examples" in admin.get("/admin/out-of-scope?status=pending").get_data(as_text=True)
    assert "330 examples" in admin.get("/admin/out-of-scope?source=seed").get_data(as_text=True)
    assert "0 examples" in admin.get("/admin/out-of-scope?source=inbox").get_data(as_text=True)


def test_an_added_example_is_refused_at_once_and_editing_or_deleting_it_undoes_that(
    admin_app, admin
):
    text = "min bisa beliin saham tesla ga"
    assert ask(admin_app, text)["fallback"] is False
    response = post(admin, "/admin/out-of-scope/new", {"text": text, "approved": "y"})
    assert response.status_code == 302
    added = example(admin_app, text)
    assert (added.source, added.approved) == ("admin", True)
    settle(admin_app)
    assert ask(admin_app, text)["fallback_rule"] == "reject_class"

    edited = "min bisa beliin saham apple ga"
    post(admin, f"/admin/out-of-scope/{added.id}", {"text": edited, "approved": "y"})
    settle(admin_app)
    assert example(admin_app, edited).id == added.id
    assert ask(admin_app, edited)["fallback_rule"] == "reject_class"

    post(admin, f"/admin/out-of-scope/{added.id}/delete")
    settle(admin_app)
    assert example(admin_app, edited) is None
    assert ask(admin_app, edited)["fallback"] is False


def test_a_pending_example_is_indexed_only_once_approved(admin_app, admin):
    text = "jual beli akun game dmn"
    post(admin, "/admin/out-of-scope/new", {"text": text})  # the box left unticked
    pending = example(admin_app, text)
    assert pending.approved is False
    settle(admin_app)
    assert ask(admin_app, text)["fallback"] is False
    page = admin.get("/admin/out-of-scope?status=pending").get_data(as_text=True)
    assert "1 examples" in page and text in page
    post(admin, f"/admin/out-of-scope/{pending.id}/approve")
    settle(admin_app)
    assert ask(admin_app, text)["fallback_rule"] == "reject_class"


def test_bad_examples_are_refused_and_nothing_is_saved(admin_app, admin):
    before = count(admin_app)
    cases = [
        ({"text": "Apa itu mode mewah?"}, "is a phrasing of FAQ #"),
        ({"text": "HARGA bitcoin hari ini  brp rupiah"}, "is already out-of-scope example #"),
        ({"text": "   "}, "This field is required."),
        ({"text": "x" * 1001}, "Field cannot be longer than 1000 characters."),
    ]
    for data, error in cases:
        response = post(admin, "/admin/out-of-scope/new", {**data, "approved": "y"})
        assert response.status_code == 422
        assert error in response.get_data(as_text=True)
    assert count(admin_app) == before
    assert admin.get("/admin/out-of-scope/99999").status_code == 404


def test_not_our_topic_changes_the_next_answer_without_a_retrain(admin_app, admin):
    texts = ["bisa beliin tiket konser ga min", "Bisa beliin tiket konser ga min"]
    assert ask(admin_app, texts[0])["fallback"] is False
    ids = [log(admin_app, text) for text in texts]
    page = admin.get("/admin/inbox").get_data(as_text=True)
    assert "Not our topic" in page
    response = post(
        admin, "/admin/inbox/out-of-scope", {"ids": [f"{ids[0]},{ids[1]}"]}, follow_redirects=True
    )
    assert "Not our topic: 2 message(s), 1 new out-of-scope example(s)" in response.get_data(
        as_text=True
    )
    assert (example(admin_app, texts[0]).source, example(admin_app, texts[0]).approved) == (
        "inbox",
        True,
    )
    with new_session(admin_app) as session:
        assert [session.get(QueryLog, i).review_status for i in ids] == ["out_of_scope"] * 2
        assert session.scalar(select(func.count(ModelVersion.id))) == 1
    reply = ask(admin_app, texts[1])  # no settle(): the action waited for the index itself
    assert reply["fallback"] is True and reply["fallback_rule"] == "reject_class"
    assert reply["model_version"] == "v1"  # the same model: re-indexed, not retrained
    assert texts[0] not in admin.get("/admin/inbox").get_data(as_text=True)


def test_not_our_topic_refuses_an_faq_phrasing(admin_app, admin):
    entry = log(admin_app, "Apa itu mode mewah?")
    page = post(admin, "/admin/inbox/out-of-scope", {"ids": [entry]}, follow_redirects=True)
    assert "Nothing changed" in page.get_data(as_text=True)
    assert "is a phrasing of FAQ #" in page.get_data(as_text=True)
    assert example(admin_app, "Apa itu mode mewah?") is None


def test_telegram_none_of_these_waits_in_the_inbox_for_approval(admin_app, admin):
    with new_session(admin_app) as session:
        pending = [
            OutOfScopeExample(text=text, source="telegram", approved=False)
            for text in ("cara bobol wifi tetangga", "mode mewah buat apa")
        ]
        session.add_all(pending)
        session.commit()
        keep, drop = pending[0].id, pending[1].id
    page = admin.get("/admin/inbox").get_data(as_text=True)
    assert "Telegram “none of these”" in page and "cara bobol wifi tetangga" in page
    assert ask(admin_app, "cara bobol wifi tetangga")["fallback"] is False
    post(admin, f"/admin/inbox/none-of-these/{keep}/approve")
    post(admin, f"/admin/inbox/none-of-these/{drop}/reject")
    again = post(admin, f"/admin/inbox/none-of-these/{drop}/approve", follow_redirects=True)
    assert "already reviewed" in again.get_data(as_text=True)
    assert example(admin_app, "cara bobol wifi tetangga").approved is True
    assert example(admin_app, "mode mewah buat apa") is None
    assert ask(admin_app, "cara bobol wifi tetangga")["fallback_rule"] == "reject_class"
    settle(admin_app)


def test_the_test_panel_shows_the_reject_class(admin_app, admin):
    response = post(admin, "/admin/test", {"message": "harga bitcoin hari ini brp rupiah"})
    page = response.get_data(as_text=True)
    assert "Fallback: nearer to an out-of-scope example than to any FAQ" in page
    assert "Nearest out-of-scope example: “harga bitcoin hari ini brp rupiah”" in page
