"""Keys for the public API: made at random, shown once, stored as SHA-256 only.

A plain hash is enough (and cheap on every request) because a key is 256 random bits:
there is no dictionary to try against a leaked hash.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import ApiKey
from bot.models import utcnow

KEY_PREFIX = "fbk_"


class ApiKeyError(ValueError):
    """The key cannot be made or changed as asked; says why."""


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """A new key named `name`; returns the row and the key itself (never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("the name must be 1-100 characters")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ApiKeyError(f"a key named {name!r} exists already")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=key_hash(key), prefix=key[:12])
    session.add(row)
    session.commit()
    return row, key


def find_key(session: Session, key: str) -> ApiKey | None:
    """The unrevoked key row for a presented key (looked up by hash), or None."""
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash(key))).first()
    return row if row is not None and row.revoked_at is None else None


def revoke_key(session: Session, name: str) -> ApiKey:
    row = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
    if row is None:
        raise ApiKeyError(f"no key named {name!r}")
    row.revoked_at = row.revoked_at or utcnow()
    session.commit()
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))
