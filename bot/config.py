"""Configuration read once from environment variables (names may grow, never change).

Every setting and its default lives here, so views and services read `app.config[KEY]`
without defaults of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_BASE_MODEL = "embedded:multilingual-e5-small"
# {topics}: one example question per FAQ category, a line each (see bot.answering)
DEFAULT_FALLBACK_TEXT = (
    "Maaf, saya belum bisa menjawab pertanyaan itu. "
    "Pertanyaanmu sudah kami catat dan akan diteruskan ke tim kami.\n\n"
    "Saya bisa membantu pertanyaan seperti:\n{topics}"
)
SHIPPED_DATA = Path(__file__).resolve().parent.parent / "faq_data"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_flag(value: object, default: bool | None = None) -> bool | None:
    """One reading of yes/no settings everywhere: 1/true/yes/on and 0/false/no/off.

    Empty or missing gives `default`; anything else is a mistake worth stopping for.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected a yes/no value (1/0, true/false, yes/no, on/off), not {value!r}")


ENCODER_CHOICES = ("onnx-int8", "onnx-int8-blocks", "onnx", "torch")


def parse_encoder(value: str | None) -> str | None:
    """BOT_ENCODER: one of ENCODER_CHOICES, or empty for the best the version's parity allows."""
    if value is None or not value.strip():
        return None
    choice = value.strip().lower()
    if choice not in ENCODER_CHOICES:
        raise ValueError(f"BOT_ENCODER must be one of {', '.join(ENCODER_CHOICES)}, not {value!r}")
    return choice


def _float_or_none(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    return float(value)


def _int_or_none(value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    return int(value)


def from_environment(instance_path: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the app config from the environment; `test_config` may override any key later."""
    env = os.environ if env is None else env
    return {
        # None: bot.keys makes a random key and keeps it in the instance folder
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "BOT_TRUSTED_PROXIES": int(env.get("BOT_TRUSTED_PROXIES", "0")),
        "DATABASE_URL": env.get(
            "DATABASE_URL", "sqlite:///" + str(Path(instance_path) / "faq_bot.sqlite3")
        ),
        "BOT_BASE_MODEL": env.get("BOT_BASE_MODEL", DEFAULT_BASE_MODEL),
        "BOT_THRESHOLD": _float_or_none(env.get("BOT_THRESHOLD")),
        "BOT_AMBIGUITY_MARGIN": _float_or_none(env.get("BOT_AMBIGUITY_MARGIN")),
        "BOT_REJECT_MARGIN": _float_or_none(env.get("BOT_REJECT_MARGIN")),
        "BOT_WRONG_ANSWER_COST": float(env.get("BOT_WRONG_ANSWER_COST", "3")),
        "BOT_FALLBACK_TEXT": env.get("BOT_FALLBACK_TEXT", DEFAULT_FALLBACK_TEXT),
        "BOT_EVAL_FILE": env.get("BOT_EVAL_FILE", str(SHIPPED_DATA / "finbuddy_eval.csv")),
        "BOT_SEED_FAQ_FILE": env.get("BOT_SEED_FAQ_FILE", str(SHIPPED_DATA / "finbuddy_faq.csv")),
        "BOT_SEED_PAIRS_FILE": env.get(
            "BOT_SEED_PAIRS_FILE", str(SHIPPED_DATA / "finbuddy_pairs.csv")
        ),
        "BOT_SEED_OOS_FILE": env.get("BOT_SEED_OOS_FILE", str(SHIPPED_DATA / "finbuddy_oos.csv")),
        "BOT_SEED_ON_EMPTY": parse_flag(env.get("BOT_SEED_ON_EMPTY"), default=True),
        # initialise (migrate, seed, prepare the model) in create_app: single-process setups
        "BOT_AUTO_INIT": parse_flag(env.get("BOT_AUTO_INIT"), default=False),
        # how often each worker looks for a newly activated version or index
        "BOT_RELOAD_SECONDS": float(env.get("BOT_RELOAD_SECONDS", "2")),
        "BOT_MAX_MESSAGE_CHARS": int(env.get("BOT_MAX_MESSAGE_CHARS", "4000")),
        "BOT_PROMOTION_TOLERANCE": float(env.get("BOT_PROMOTION_TOLERANCE", "0.0")),
        "BOT_KEEP_VERSIONS": int(env.get("BOT_KEEP_VERSIONS", "5")),
        # a running retraining job silent this long has lost its worker
        "BOT_JOB_HEARTBEAT_TIMEOUT": float(env.get("BOT_JOB_HEARTBEAT_TIMEOUT", "60")),
        "BOT_ENCODER": parse_encoder(env.get("BOT_ENCODER")),
        # One ONNX Runtime thread per worker: run as many workers as cores.
        "BOT_ENCODER_THREADS": int(env.get("BOT_ENCODER_THREADS", "1")),
        # where every host finds model versions (a folder or an fsspec URL); None: this host's
        "BOT_MODEL_STORE": env.get("BOT_MODEL_STORE") or None,
        "BOT_EMBED_CACHE_SIZE": int(env.get("BOT_EMBED_CACHE_SIZE", "4096")),
        # None: secure unless debugging or testing (bot.admin.security decides)
        "BOT_SECURE_COOKIES": parse_flag(env.get("BOT_SECURE_COOKIES")),
        "ADMIN_SESSION_HOURS": float(env.get("ADMIN_SESSION_HOURS", "12")),
        "ADMIN_IDLE_MINUTES": float(env.get("ADMIN_IDLE_MINUTES", "60")),
        "ADMIN_LOGIN_LIMIT_IP": env.get("ADMIN_LOGIN_LIMIT_IP", "10 per minute; 100 per day"),
        "ADMIN_LOGIN_LIMIT_USER": env.get("ADMIN_LOGIN_LIMIT_USER", "5 per minute; 30 per day"),
        "BOT_API_REQUIRE_KEY": parse_flag(env.get("BOT_API_REQUIRE_KEY"), default=False),
        "BOT_API_RATE_LIMIT_IP": env.get("BOT_API_RATE_LIMIT_IP", "60 per minute"),
        "BOT_API_RATE_LIMIT_KEY": env.get("BOT_API_RATE_LIMIT_KEY", "600 per minute"),
        "BOT_RATE_LIMIT_STORAGE": env.get("BOT_RATE_LIMIT_STORAGE", "memory://"),
        "BOT_QUERY_LOG_DAYS": int(env.get("BOT_QUERY_LOG_DAYS", "90")),
        "ADMIN_INBOX_BAND": float(env.get("ADMIN_INBOX_BAND", "0.1")),
        "ADMIN_CLUSTER_SIMILARITY": float(env.get("ADMIN_CLUSTER_SIMILARITY", "0.8")),
        "ADMIN_NEAR_DUPLICATE": float(env.get("ADMIN_NEAR_DUPLICATE", "0.9")),
        "ADMIN_TEST_WAIT_SECONDS": float(env.get("ADMIN_TEST_WAIT_SECONDS", "15")),
        "TELEGRAM_BOT_TOKEN": env.get("TELEGRAM_BOT_TOKEN"),
        "TELEGRAM_WEBHOOK_SECRET": env.get("TELEGRAM_WEBHOOK_SECRET"),
        "TELEGRAM_API_URL": env.get("TELEGRAM_API_URL", "https://api.telegram.org/bot"),
        "TELEGRAM_RATE_LIMIT": int(env.get("TELEGRAM_RATE_LIMIT", "20")),
        "TELEGRAM_TIMEOUT": float(env.get("TELEGRAM_TIMEOUT", "10")),
        "TELEGRAM_RETRY_SECONDS": float(env.get("TELEGRAM_RETRY_SECONDS", "5")),
        "TELEGRAM_RETRY_HOURS": float(env.get("TELEGRAM_RETRY_HOURS", "24")),
        # the group where agents answer handed-off questions; None: no "Tanya admin" button
        "TELEGRAM_SUPPORT_CHAT_ID": _int_or_none(env.get("TELEGRAM_SUPPORT_CHAT_ID")),
        # "Tanya admin" presses per chat per hour (a flood of tickets is refused politely)
        "TELEGRAM_HANDOFF_RATE_LIMIT": int(env.get("TELEGRAM_HANDOFF_RATE_LIMIT", "3")),
    }
