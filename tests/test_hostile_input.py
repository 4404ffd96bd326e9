"""The hostile-input corpus: API bodies, Telegram updates, admin forms, CSV and XLSX files.

Every case must get a 4xx (or, on Telegram, a polite reply or silence) and never a 5xx,
and must leave the database as it was: no query logged, no FAQ or pair half-written.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from admin_browser.support import app_on_copy
from admin_browser.support import csrf_token
from admin_browser.support import login
from admin_browser.support import post
from fake_bot_api import FakeBotApi
from harness import app_config
from harness import close_app
from hostile_files import CSV_CASES
from hostile_files import XLSX_CASES
from sqlalchemy import func
from sqlalchemy import select
from telegram_updates import callback_query
from telegram_updates import message
from telegram_updates import next_id

from bot import create_app
from bot.db import new_session
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import QueryLog
from bot.models import TrainingPair
from bot.telegram import texts

pytest_plugins = ["admin_browser.support"]

TOKEN = "123456:TEST-token"
SECRET = "hostile-secret"


def state(app) -> tuple[int, ...]:  # noqa: ANN001
    """Row counts that no refused input may change."""
    with new_session(app) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (QueryLog, Faq, AlternateQuestion, TrainingPair)
        )


# -- the JSON API --------------------------------------------------------------------------

API_BODIES: dict[str, tuple[bytes, str]] = {
    "escaped-lone-surrogate": (b'{"message": "halo \\ud800"}', "lone surrogate"),
    "encoded-lone-surrogate": (b'{"message": "halo \xed\xa0\x80"}', "lone surrogate"),
    "nul": (b'{"message": "a\\u0000b"}', "control character (U+0000)"),
    "bell": (b'{"message": "halo\\u0007"}', "control character (U+0007)"),
    "terminal-escape": (b'{"message": "\\u001b[31mmerah"}', "control character (U+001B)"),
    "c1-control": (b'{"message": "next\\u0085line"}', "control character (U+0085)"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep-nesting-in-message": (b'{"message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", ""),
    "bad-utf8": (b'{"message": "halo \xff\xfe"}', "not valid UTF-8"),
    "huge-integer": (b'{"message": 1' + b"1" * 5000 + b"}", "not valid JSON"),
    "huge-float": (b'{"message": 1e999999}', "must be a string"),
    "nan": (b'{"message": NaN}', "must be a string"),
    "duplicate-keys": (b'{"message": "ok", "message": 5}', "must be a string"),
    "empty-body": (b"", "must be a JSON object"),
    "null": (b"null", "not NoneType"),
    "bare-string": (b'"Apa itu mode mewah?"', "not str"),
    "list-message": (b'{"message": ["Apa itu mode mewah?"]}', "must be a string"),
    "operator-object": (b'{"message": {"$gt": ""}}', "must be a string"),
    "truncated": (b'{"message": "Apa itu', "not valid JSON"),
    "trailing-garbage": (b'{"message": "hi"} {}', "not valid JSON"),
    "only-line-breaks": (b'{"message": "\\r\\n\\t \\n"}', "message is empty"),
    "too-long": (b'{"message": "' + b"a" * 4001 + b'"}', "longer than 4000"),
    "no-message": (b'{"text": "halo"}', "missing field 'message'"),
}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory, tiny_bert, databases):  # noqa: ANN001, ANN201
    database_url = databases.create() if databases is not None else None
    instance = tmp_path_factory.mktemp("hostile-api")
    app = create_app(
        {
            **app_config(instance, tiny_bert, database_url),
            "BOT_API_RATE_LIMIT_IP": "100000 per minute",
        }
    )
    yield app
    close_app(app)


@pytest.mark.parametrize("case", sorted(API_BODIES))
def test_hostile_api_bodies_get_a_clear_400(api_app, case):
    body, reason = API_BODIES[case]
    before = state(api_app)
    response = api_app.test_client().post("/api/chat", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert reason in response.get_json()["error"]
    assert state(api_app) == before


def test_a_body_that_is_not_declared_json_is_a_400(api_app):
    response = api_app.test_client().post("/api/chat", data=b'{"message": "hi"}')
    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]


# -- Telegram -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telegram(tmp_path_factory, tiny_bert, databases) -> Iterator[tuple[object, FakeBotApi]]:  # noqa: ANN001
    database_url = databases.create() if databases is not None else None
    instance = tmp_path_factory.mktemp("hostile-telegram")
    with FakeBotApi() as fake:
        app = create_app(
            {
                **app_config(instance, tiny_bert, database_url),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_API_URL": fake.base_url,
            }
        )
        yield app, fake
        app.extensions["telegram"].close()
        close_app(app)


def deliver(app, body: bytes):  # noqa: ANN001, ANN201
    response = app.test_client().post(
        "/telegram/webhook",
        data=body,
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert app.extensions["telegram"].wait_idle(timeout=30)
    return response


def as_json(update: dict) -> bytes:
    import json

    return json.dumps(update).encode()


CHAT = 7001
TELEGRAM_CASES: dict[str, tuple[bytes, int, list[str]]] = {
    "nul-in-text": (as_json(message(CHAT, "halo\x00min")), 200, [texts.CHARACTERS]),
    "escape-in-text": (as_json(message(CHAT, "\x1b[2Jhapus")), 200, [texts.CHARACTERS]),
    "lone-surrogate-in-text": (
        b'{"update_id": %d, "message": {"message_id": 1, "date": 1, "chat": {"id": %d, '
        b'"type": "private"}, "text": "halo \\udc00"}}' % (next_id(), CHAT),
        200,
        [texts.CHARACTERS],
    ),
    "too-long": (
        as_json(message(CHAT, "kenapa " * 700)),
        200,
        [texts.TOO_LONG.format(limit=4000)],
    ),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, 400, []),
    "bad-utf8": (b'{"update_id": 5, "message": "\xff"}', 400, []),
    "huge-update-id": (as_json(message(CHAT, "halo", update_id=10**30)), 400, []),
    "negative-update-id": (as_json(message(CHAT, "halo", update_id=-5)), 400, []),
    "text-not-a-string": (  # our side fails on it: the chat gets the polite apology
        as_json({**message(CHAT, None), "message": {**message(CHAT, None)["message"], "text": 5}}),
        200,
        [texts.TROUBLE],
    ),
    "forged-button": (
        as_json(callback_query(CHAT, "pick:1:1:" + "A" * 22, {"inline_keyboard": []})),
        200,
        [],
    ),
    "oversized-button-data": (
        as_json(callback_query(CHAT, "pick:" + "9" * 5000, {"inline_keyboard": []})),
        200,
        [],
    ),
}


@pytest.mark.parametrize("case", sorted(TELEGRAM_CASES))
def test_hostile_telegram_updates_get_a_polite_reply_or_none(telegram, case):
    app, fake = telegram
    body, status, replies = TELEGRAM_CASES[case]
    fake.reset()
    before = state(app)
    response = deliver(app, body)
    assert response.status_code == status
    assert [call.params["text"] for call in fake.sent_messages(CHAT)] == replies
    assert state(app) == before  # nothing was logged, no pair was stored


# -- the admin UI: forms, CSV and XLSX uploads ---------------------------------------------


@pytest.fixture(scope="module")
def admin_module(template_instance, tmp_path_factory, tiny_bert, databases):  # noqa: ANN001, ANN201
    """One signed-in admin on a copy of the template instance for the whole corpus."""
    instance = tmp_path_factory.mktemp("hostile-admin") / "instance"
    app = app_on_copy(template_instance, instance, tiny_bert, databases)
    client = app.test_client()
    login(client)
    return app, client


FAQ = {"question": "Pertanyaan baru?", "answer": "Jawaban.", "category": "", "alternates": ""}
FORM_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "nul-in-question": ("/admin/faqs/new", {**FAQ, "question": "Apa\x00itu?"}),
    "escape-in-answer": ("/admin/faqs/new", {**FAQ, "answer": "\x1b[31mJawab"}),
    "bell-in-category": ("/admin/faqs/new", {**FAQ, "category": "fitur\x07"}),
    "nul-in-alternates": ("/admin/faqs/new", {**FAQ, "alternates": "satu\nd\x00ua"}),
    "over-long-question": ("/admin/faqs/new", {**FAQ, "question": "a" * 501}),
    "nul-in-pair": ("/admin/pairs/new", {"text": "hal\x00o", "faq_id": "1", "approved": "y"}),
    "pair-for-no-faq": ("/admin/pairs/new", {"text": "halo", "faq_id": "999999"}),
    "pair-faq-not-a-number": ("/admin/pairs/new", {"text": "halo", "faq_id": "1 OR 1=1"}),
    "nul-in-test-message": ("/admin/test", {"message": "halo\x00"}),
    "retrain-nonsense": ("/admin/retrain", {"epochs": "1e999", "batch_size": "-1"}),
    "attach-junk-ids": ("/admin/inbox/attach", {"ids": "1;DROP TABLE faq", "faq_id": "x"}),
}


@pytest.mark.parametrize("case", sorted(FORM_CASES))
def test_hostile_admin_forms_are_refused_and_write_nothing(admin_module, case):
    app, client = admin_module
    url, data = FORM_CASES[case]
    before = state(app)
    response = post(client, url, data)
    assert 300 <= response.status_code < 500, response.status_code
    assert state(app) == before


@pytest.mark.parametrize(
    "url",
    [
        "/admin/faqs?page=-1",
        "/admin/faqs?page=99999999999999999999999",
        "/admin/faqs/99999999999999999999999",
        "/admin/pairs/99999999999999999999999",
        "/admin/faqs?q=%00%ff%25",
        "/admin/login?next=//evil.example/",
        "/admin/retrain/jobs/99999999999999999999.json",
    ],
)
def test_hostile_admin_urls_are_never_a_server_error(admin_module, url):
    app, client = admin_module
    before = state(app)
    assert client.get(url).status_code < 500
    assert state(app) == before


def upload(client, name: str, body: bytes):  # noqa: ANN001, ANN201
    return post(
        client,
        "/admin/import",
        {"file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_hostile_csv_files_are_refused_whole(admin_module, case):
    app, client = admin_module
    before = state(app)
    response = upload(client, "faq.csv", CSV_CASES[case])
    assert response.status_code == 422
    assert "nothing imported" in response.get_data(as_text=True)
    assert state(app) == before


@pytest.mark.parametrize("case", sorted(XLSX_CASES))
def test_hostile_workbooks_are_refused_fast(admin_module, case):
    app, client = admin_module
    body = XLSX_CASES[case]
    assert len(body) < 1024 * 1024  # every one fits the upload limit
    before = state(app)
    started = time.perf_counter()
    response = upload(client, "faq.xlsx", body)
    took = time.perf_counter() - started
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:500]
    assert "nothing imported" in page
    # refused from the zip directory and <dimension> (or by the first bytes), except the sheet
    # that hides its size: that one is read up to the row cap, which bounds the work
    limit = 15.0 if case == "undeclared-rows-past-the-cap" else 2.0
    assert took < limit, f"{case} took {took:.2f} s"
    assert state(app) == before


def test_the_dimension_bomb_is_refused_before_openpyxl_sees_it(monkeypatch):
    from bot.admin.spreadsheet import xlsx_to_csv
    from training.tabular import CsvValidationError

    monkeypatch.setattr("openpyxl.load_workbook", lambda *a, **k: pytest.fail("parsed"))
    started = time.perf_counter()
    with pytest.raises(CsvValidationError, match="1,048,576 rows × 16,384 columns"):
        xlsx_to_csv(XLSX_CASES["dimension-bomb"])
    assert time.perf_counter() - started < 0.1


def test_the_login_form_refuses_control_characters_without_a_server_error(admin_module):
    app, _ = admin_module
    visitor = app.test_client()
    page = visitor.get("/admin/login").get_data(as_text=True)
    response = visitor.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page), "username": "ad\x00min", "password": "x\x00"},
    )
    assert response.status_code == 422


def test_the_corpus_has_the_size_the_note_reports():
    sizes = {
        "api": len(API_BODIES) + 1,
        "telegram": len(TELEGRAM_CASES),
        "admin": len(FORM_CASES) + 7 + 1,
        "csv": len(CSV_CASES),
        "xlsx": len(XLSX_CASES) + 1,
    }
    print("hostile-input corpus:", sizes, "total", sum(sizes.values()))
    assert all(count >= 5 for count in sizes.values())
