"""Unanswered inbox: grouping, attach, create a FAQ, ignore; Telegram picks."""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import numpy as np
from admin_browser.support import post
from admin_browser.support import settle
from sqlalchemy import select

from bot.db import new_session
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import ModelVersion
from bot.models import QueryLog
from bot.models import TrainingPair
from bot.review import cluster_queries

pytest_plugins = ["admin_browser.support"]

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def log(app, text, *, fallback=True, score=0.1, channel="telegram", status="new", minutes=0):
    with new_session(app) as session:
        entry = QueryLog(
            text=text,
            channel=channel,
            fallback=fallback,
            score=score,
            review_status=status,
            created_at=NOW - timedelta(minutes=minutes),
        )
        session.add(entry)
        session.commit()
        return entry.id


def statuses(app, ids):
    with new_session(app) as session:
        return [session.get(QueryLog, i).review_status for i in ids]


def faq_id(app, question):
    with new_session(app) as session:
        return session.scalars(select(Faq.id).where(Faq.question == question)).one()


def threshold(app):
    with new_session(app) as session:
        return session.scalars(select(ModelVersion.threshold)).one()


class FakeMatcher:
    """Unit vectors chosen per text, so the grouping itself is what is tested."""

    def __init__(self, vectors):
        self.vectors = vectors

    def embed(self, texts):
        rows = np.array([self.vectors[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_greedy_clustering_joins_the_most_similar_leader():
    queries = [
        QueryLog(id=i, text=t, created_at=NOW - timedelta(minutes=i), fallback=True)
        for i, t in enumerate(["gaji masuk", "GAJI  masuk", "gajian masuk", "cuaca", "gaji masuk"])
    ]
    encoder = FakeMatcher(
        {"gaji masuk": [1, 0, 0], "gajian masuk": [0.95, 0.3, 0], "cuaca": [0, 0, 1]}
    )
    clusters = cluster_queries(queries, encoder, similarity=0.9)
    assert [c.leader for c in clusters] == ["gaji masuk", "cuaca"]
    assert sorted(clusters[0].ids) == [0, 1, 2, 4]
    assert clusters[0].texts[0] == "gaji masuk"  # the most frequent wording first
    assert [c.ids for c in cluster_queries(queries, encoder, similarity=0.99)][1] == [2]
    assert len(cluster_queries(queries, None, similarity=0.9)) == 3  # no model: by text only


def test_inbox_shows_fallbacks_and_doubtful_answers_grouped(admin_app, admin):
    limit = threshold(admin_app)
    shown = [
        log(admin_app, "cara bayar tagihan listrik di finbuddy"),
        log(admin_app, "Cara bayar tagihan listrik di FinBuddy", minutes=5),
        log(admin_app, "apa itu mode mewh", fallback=False, score=limit + 0.05),
    ]
    hidden = [
        log(admin_app, "apa itu mode mewah", fallback=False, score=limit + 0.5),
        log(admin_app, "tes dari admin", channel="admin-test"),
        log(admin_app, "sudah diurus", status="ignored"),
    ]
    page = admin.get("/admin/inbox").get_data(as_text=True)
    assert "3 messages the bot could not answer" in page
    assert page.count('class="card cluster"') == 2
    assert "2× · 2 fallback" in page
    values = [v.split(",") for v in re.findall(r'name="ids" value="([\d,]+)"', page)]
    assert sorted(values) == [[str(shown[0]), str(shown[1])], [str(shown[2])]]
    assert not {str(entry) for entry in hidden} & {i for v in values for i in v}
    assert "The bot's nearest FAQs" in page


def test_attaching_as_training_pairs_teaches_the_index(admin_app, admin):
    target = faq_id(admin_app, "Bagaimana cara memasukkan data pendapatan?")
    texts = ["bos gaji bulan ini masukinnya dmn", "Bos gaji bulan ini masukinnya dmn"]
    ids = [log(admin_app, text) for text in texts]
    prefix = f"c{ids[0]}"
    selected = [f"{ids[0]},{ids[1]}"]  # one checkbox per phrasing covers all its messages
    data = {
        "prefix": prefix,
        f"{prefix}-faq_id": target,
        f"{prefix}-kind": "pair",
        "ids": selected,
    }
    response = post(admin, "/admin/inbox/attach", data, follow_redirects=True)
    assert "Added 1 training pair(s)" in response.get_data(as_text=True)
    assert statuses(admin_app, ids) == ["attached", "attached"]
    with new_session(admin_app) as session:
        pair = session.scalars(select(TrainingPair).where(TrainingPair.text == texts[0])).one()
        assert (pair.faq_id, pair.source, pair.approved) == (target, "inbox", True)
    settle(admin_app)
    reply = admin_app.test_client().post("/api/chat", json={"message": texts[0]}).get_json()
    assert reply["faq_id"] == target
    assert texts[0] not in admin.get("/admin/inbox").get_data(as_text=True)


def test_attaching_as_alternate(admin_app, admin):
    target = faq_id(admin_app, "Apa itu mode mewah?")
    entry = log(admin_app, "mode sultan itu apa")
    data = {"prefix": "x", "x-faq_id": target, "x-kind": "alternate", "ids": [entry]}
    post(admin, "/admin/inbox/attach", data)
    with new_session(admin_app) as session:
        texts = session.scalars(select(AlternateQuestion.text).filter_by(faq_id=target)).all()
    assert "mode sultan itu apa" in texts
    assert statuses(admin_app, [entry]) == ["attached"]


def test_an_alternate_owned_by_another_faq_is_refused(admin_app, admin):
    target = faq_id(admin_app, "Apa itu mode mewah?")
    entry = log(admin_app, "apa itu mode normal?")
    data = {"prefix": "x", "x-faq_id": target, "x-kind": "alternate", "ids": [entry]}
    page = post(admin, "/admin/inbox/attach", data, follow_redirects=True).get_data(as_text=True)
    assert "Nothing changed" in page and "is already a question of FAQ" in page
    assert statuses(admin_app, [entry]) == ["new"]


def test_attach_with_nothing_selected_or_a_bad_faq_changes_nothing(admin_app, admin):
    entry = log(admin_app, "halo admin")
    target = faq_id(admin_app, "Apa itu mode mewah?")
    page = post(
        admin,
        "/admin/inbox/attach",
        {"prefix": "x", "x-faq_id": target, "x-kind": "pair"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Nothing changed" in page
    page = post(
        admin,
        "/admin/inbox/attach",
        {"prefix": "x", "x-faq_id": 99999, "ids": [entry]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Choose a FAQ" in page
    assert statuses(admin_app, [entry]) == ["new"]


def test_creating_a_faq_from_inbox_messages(admin_app, admin):
    ids = [
        log(admin_app, "bisa bayar tagihan listrik?"),
        log(admin_app, "bayar token listrik bisa ga"),
    ]
    response = post(admin, "/admin/inbox/new-faq", {"ids": ids})
    assert response.location.startswith("/admin/faqs/new?queries=")
    form = admin.get(response.location).get_data(as_text=True)
    assert 'value="bisa bayar tagihan listrik?"' in form
    assert "Creating a FAQ from 2 inbox messages" in form
    data = {
        "question": "Bisakah bayar tagihan listrik di FinBuddy?",
        "answer": "Belum bisa.",
        "active": "y",
        "queries": ",".join(map(str, ids)),
    }
    assert post(admin, "/admin/faqs/new", data).status_code == 302
    assert statuses(admin_app, ids) == ["created", "created"]
    new_id = faq_id(admin_app, data["question"])
    with new_session(admin_app) as session:
        texts = session.scalars(select(TrainingPair.text).filter_by(faq_id=new_id)).all()
    assert sorted(texts) == ["bayar token listrik bisa ga", "bisa bayar tagihan listrik?"]
    settle(admin_app)


def test_new_faq_needs_messages_still_waiting(admin_app, admin):
    done = log(admin_app, "sudah", status="ignored")
    response = post(admin, "/admin/inbox/new-faq", {"ids": [done]}, follow_redirects=True)
    assert "Select at least one message" in response.get_data(as_text=True)


def test_ignoring_removes_messages_from_the_inbox(admin_app, admin):
    ids = [log(admin_app, "asdfgh"), log(admin_app, "qwerty")]
    page = post(admin, "/admin/inbox/ignore", {"ids": ids}, follow_redirects=True)
    assert "Ignored 2 message(s)" in page.get_data(as_text=True)
    assert statuses(admin_app, ids) == ["ignored", "ignored"]


def test_telegram_picks_are_approved_or_rejected(admin_app, admin):
    target = faq_id(admin_app, "Apa itu mode mewah?")
    with new_session(admin_app) as session:
        picks = [
            TrainingPair(text=t, faq_id=target, source="telegram", approved=False)
            for t in ("mode mewah tuh apa min", "mewah2an itu fitur apa")
        ]
        session.add_all(picks)
        session.commit()
        keep, drop = picks[0].id, picks[1].id
    page = admin.get("/admin/inbox").get_data(as_text=True)
    assert "Telegram “did you mean” picks" in page and "mode mewah tuh apa min" in page
    assert "2 Telegram picks" in admin.get("/admin/").get_data(as_text=True)
    post(admin, f"/admin/inbox/picks/{keep}/approve")
    post(admin, f"/admin/inbox/picks/{drop}/reject")
    again = post(admin, f"/admin/inbox/picks/{drop}/approve", follow_redirects=True)
    assert "already reviewed" in again.get_data(as_text=True)
    with new_session(admin_app) as session:
        assert session.get(TrainingPair, keep).approved
        assert session.get(TrainingPair, drop) is None
    settle(admin_app)
