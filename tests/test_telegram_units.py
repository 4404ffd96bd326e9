"""The pure parts of the Telegram channel: message splitting, rate limit, button data."""

from __future__ import annotations

import pytest

from bot.keys import derive_key
from bot.telegram import texts
from bot.telegram.formatting import MESSAGE_LIMIT
from bot.telegram.formatting import button_label
from bot.telegram.formatting import split_message
from bot.telegram.formatting import telegram_length
from bot.telegram.keyboard import SIGNING_PURPOSE
from bot.telegram.keyboard import Pick
from bot.telegram.keyboard import decode_none
from bot.telegram.keyboard import decode_pick
from bot.telegram.keyboard import did_you_mean
from bot.telegram.keyboard import encode_none
from bot.telegram.keyboard import encode_pick
from bot.telegram.keyboard import sign
from bot.telegram.keyboard import verify
from bot.telegram.rate_limit import RateLimiter
from bot.telegram.rate_limit import Verdict


def test_short_text_is_one_message():
    assert split_message("  Halo!  ") == ["Halo!"]
    assert split_message("   ") == []


def test_split_prefers_paragraphs_then_sentences_then_words():
    paragraph = "Satu dua tiga. " * 20  # 300 characters
    chunks = split_message((paragraph.strip() + "\n\n") * 3, limit=400)
    assert chunks == [paragraph.strip()] * 3
    sentences = split_message("Kalimat pertama di sini. Kalimat kedua lebih panjang.", limit=30)
    assert sentences == ["Kalimat pertama di sini.", "Kalimat kedua lebih panjang."]
    words = split_message("a" * 10 + " " + "b" * 10, limit=15)
    assert words == ["a" * 10, "b" * 10]


def test_an_unbreakable_run_is_cut_hard():
    assert split_message("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_limit_is_counted_in_utf16_units_like_telegram():
    emoji = "💸"
    assert telegram_length(emoji) == 2
    chunks = split_message(emoji * 3000)  # 3,000 characters but 6,000 units
    assert len(chunks) == 2
    assert all(telegram_length(chunk) <= MESSAGE_LIMIT for chunk in chunks)
    assert "".join(chunks) == emoji * 3000


def test_button_labels_are_shortened():
    assert button_label("Apa itu  mode\nmewah?") == "Apa itu mode mewah?"
    label = button_label("kata " * 40, limit=20)
    assert len(label) == 20 and label.endswith("…")


KEY = derive_key("a-long-enough-secret-key", SIGNING_PURPOSE)
CHAT = -1001234567890  # a supergroup id: the longest chat ids there are


def test_pick_data_round_trips_and_fits_in_64_bytes():
    pick = Pick(query_log_id=10**12 - 1, faq_id=10**9 - 1)
    data = encode_pick(pick, KEY, CHAT)
    assert len(data.encode()) <= 64
    assert decode_pick(data, KEY, CHAT) == pick
    assert len(data.rpartition(":")[2]) == 22  # a 128-bit MAC


def test_pick_data_is_bound_to_its_key_and_its_chat():
    data = encode_pick(Pick(5, 7), KEY, CHAT)
    assert decode_pick(data, KEY, CHAT + 1) is None  # copied into another chat
    assert decode_pick(data, derive_key("a-long-enough-secret-key", "session"), CHAT) is None
    assert decode_pick(data, derive_key("another-secret-key-here", SIGNING_PURPOSE), CHAT) is None


@pytest.mark.parametrize(
    "data",
    [None, "", "pick", "pick:1:2", "pick:a:b:c", "nope:1:2:abc", "pick:1:2:3:4", ":::", "pick::"],
)
def test_malformed_pick_data_is_rejected(data):
    assert decode_pick(data, KEY, CHAT) is None


def test_tampered_pick_data_is_rejected():
    prefix, log_id, faq_id, signature = encode_pick(Pick(5, 7), KEY, CHAT).split(":")
    assert decode_pick(f"{prefix}:{log_id}:8:{signature}", KEY, CHAT) is None


def test_other_button_kinds_sign_and_verify_with_the_same_helpers():
    data = sign("none", [42], CHAT, KEY)
    assert verify(data, CHAT, KEY) == ("none", ["42"])
    assert decode_pick(data, KEY, CHAT) is None  # a different kind is not a pick
    assert verify(data.replace("none", "pick"), CHAT, KEY) is None
    with pytest.raises(ValueError):
        sign("none", ["a:b"], CHAT, KEY)


def test_keyboard_has_one_button_per_choice_and_none_of_these_last():
    markup = did_you_mean(3, [(1, "Apa itu FinBuddy?"), (2, "Apa itu mode mewah?")], KEY, CHAT)
    rows = markup.inline_keyboard
    assert [row[0].text for row in rows] == [
        "Apa itu FinBuddy?",
        "Apa itu mode mewah?",
        texts.NONE_OF_THESE,
    ]
    assert decode_pick(rows[1][0].callback_data, KEY, CHAT) == Pick(3, 2)
    assert decode_none(rows[2][0].callback_data, KEY, CHAT) == 3
    assert (
        decode_pick(rows[2][0].callback_data, KEY, CHAT) is None
    )  # one kind cannot pass for another


def test_none_of_these_data_is_signed_and_fits_in_64_bytes():
    data = encode_none(10**12 - 1, KEY, CHAT)
    assert len(data.encode()) <= 64
    assert decode_none(data, KEY, CHAT) == 10**12 - 1
    assert decode_none(data, b"other-key", CHAT) is None
    assert decode_none(data, KEY, CHAT + 1) is None  # shown in another chat
    prefix, _log_id, signature = data.split(":")
    assert decode_none(f"{prefix}:5:{signature}", KEY, CHAT) is None  # tampered id


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_allows_then_notifies_once_then_drops_then_recovers():
    clock = Clock()
    limiter = RateLimiter(limit=2, window=60, clock=clock)
    verdicts = [limiter.check(1) for _ in range(4)]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.NOTIFY, Verdict.DROP]
    assert limiter.check(2) is Verdict.ALLOW  # per chat
    clock.now = 60.5
    assert limiter.check(1) is Verdict.ALLOW
    assert limiter.check(1) is Verdict.ALLOW
    assert limiter.check(1) is Verdict.NOTIFY  # told again in a new window


def test_rate_limit_zero_means_unlimited_and_memory_stays_bounded():
    assert all(RateLimiter(0).check(1) is Verdict.ALLOW for _ in range(100))
    clock = Clock()
    limiter = RateLimiter(limit=5, window=1, clock=clock, max_chats=10)
    for chat in range(100):
        clock.now += 2  # every earlier chat is idle by now
        limiter.check(chat)
    assert len(limiter._hits) <= 11
