"""Fit answers into Telegram messages: plain text, at most 4,096 characters each."""

from __future__ import annotations

MESSAGE_LIMIT = 4096  # Telegram counts UTF-16 code units, so an emoji costs two
SEPARATORS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")


def telegram_length(text: str) -> int:
    """Length as Telegram measures it (UTF-16 code units), not Python characters."""
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, limit: int) -> int:
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut_point(text: str, limit: int) -> int:
    """Where to cut: the last paragraph, line, sentence or word break that fits."""
    window = _longest_prefix(text, limit)
    head = text[:window]
    for separator in SEPARATORS:
        at = head.rfind(separator)
        if at > window // 2:  # a break this late keeps the chunks reasonably full
            return at + len(separator)
    return max(window, 1)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split a long answer on paragraph, then sentence, then word boundaries."""
    text = text.strip()
    chunks: list[str] = []
    while telegram_length(text) > limit:
        cut = _cut_point(text, limit)
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            chunks.append(head)
    if text:
        chunks.append(text)
    return chunks


def button_label(question: str, limit: int = 100) -> str:
    """A canonical question short enough for an inline button."""
    question = " ".join(question.split())
    return question if len(question) <= limit else question[: limit - 1].rstrip() + "…"
