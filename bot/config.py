"""Configuration read once from environment variables (names may grow, never change)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_BASE_MODEL = "embedded:multilingual-e5-small"
DEFAULT_FALLBACK_TEXT = (
    "Maaf, saya belum bisa menjawab pertanyaan itu. "
    "Pertanyaanmu sudah kami catat dan akan diteruskan ke tim kami."
)
SHIPPED_DATA = Path(__file__).resolve().parent.parent / "faq_data"


def _float_or_none(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    return float(value)


def from_environment(instance_path: str) -> dict[str, Any]:
    """Build the app config from the environment; `test_config` may override any key later."""
    env = os.environ
    return {
        "SECRET_KEY": env.get("SECRET_KEY", "dev-only-change-me"),
        "DATABASE_URL": env.get(
            "DATABASE_URL", "sqlite:///" + str(Path(instance_path) / "faq_bot.sqlite3")
        ),
        "BOT_BASE_MODEL": env.get("BOT_BASE_MODEL", DEFAULT_BASE_MODEL),
        "BOT_THRESHOLD": _float_or_none(env.get("BOT_THRESHOLD")),
        "BOT_FALLBACK_TEXT": env.get("BOT_FALLBACK_TEXT", DEFAULT_FALLBACK_TEXT),
        "BOT_EVAL_FILE": env.get("BOT_EVAL_FILE", str(SHIPPED_DATA / "finbuddy_eval.csv")),
        "BOT_SEED_FAQ_FILE": env.get("BOT_SEED_FAQ_FILE", str(SHIPPED_DATA / "finbuddy_faq.csv")),
        "BOT_SEED_PAIRS_FILE": env.get(
            "BOT_SEED_PAIRS_FILE", str(SHIPPED_DATA / "finbuddy_pairs.csv")
        ),
        "BOT_SEED_ON_EMPTY": env.get("BOT_SEED_ON_EMPTY", "1") != "0",
        "BOT_MAX_MESSAGE_CHARS": int(env.get("BOT_MAX_MESSAGE_CHARS", "4000")),
        "BOT_PROMOTION_TOLERANCE": float(env.get("BOT_PROMOTION_TOLERANCE", "0.0")),
        "BOT_KEEP_VERSIONS": int(env.get("BOT_KEEP_VERSIONS", "5")),
        "BOT_SECURE_COOKIES": env.get("BOT_SECURE_COOKIES"),
        "TELEGRAM_BOT_TOKEN": env.get("TELEGRAM_BOT_TOKEN"),
        "TELEGRAM_WEBHOOK_SECRET": env.get("TELEGRAM_WEBHOOK_SECRET"),
        "TELEGRAM_API_URL": env.get("TELEGRAM_API_URL", "https://api.telegram.org/bot"),
        "TELEGRAM_RATE_LIMIT": int(env.get("TELEGRAM_RATE_LIMIT", "20")),
        "TELEGRAM_TIMEOUT": float(env.get("TELEGRAM_TIMEOUT", "10")),
        "BOT_AMBIGUITY_MARGIN": _float_or_none(env.get("BOT_AMBIGUITY_MARGIN")),
    }
