"""The first-run experience: the embedded default model, no configuration, real answers."""

from __future__ import annotations

import pytest

from bot import create_app
from bot.config import DEFAULT_BASE_MODEL


@pytest.fixture(scope="module")
def default_app(tmp_path_factory):  # noqa: ANN001, ANN201
    instance = tmp_path_factory.mktemp("default-model")
    return create_app(
        {"TESTING": True, "BOT_INSTANCE_PATH": str(instance), "BOT_BASE_MODEL": DEFAULT_BASE_MODEL}
    )


@pytest.mark.parametrize(
    ("message", "question"),
    [
        ("min, dashboard aku kosong knp ya", "Kenapa dashboard saya kosong?"),
        ("gmn cara login kalo ganti hp", "Bagaimana cara login jika saya berganti perangkat?"),
    ],
)
def test_colloquial_questions_find_their_faq(default_app, message, question):
    body = default_app.test_client().post("/api/chat", json={"message": message}).get_json()
    assert body["question"] == question
    assert body["fallback"] is False


def test_gibberish_gets_the_fallback(default_app):
    body = default_app.test_client().post("/api/chat", json={"message": "qzx vbnm plk"}).get_json()
    assert body["fallback"] is True
