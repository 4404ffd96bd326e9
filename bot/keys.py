"""The app's secret key and the keys derived from it, one per purpose.

Without SECRET_KEY the app makes a random key on first start and keeps it in the instance
folder, so restarts keep sessions and every worker on that folder signs alike.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "secret_key"
MIN_SECRET_CHARS = 16


class WeakSecretKey(ValueError):
    """SECRET_KEY is set but too short to sign anything safely."""


def instance_secret_key(instance_path: str | Path) -> str:
    """The key kept in `instance_path/secret_key`, created (mode 0600) if it is missing.

    It is written to a private temporary file and linked into place, which fails if another
    process got there first; then both read the same file, so concurrent starts agree.
    """
    path = Path(instance_path) / KEY_FILE
    if not path.exists():
        temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


def checked_secret_key(configured: str | None, instance_path: str | Path) -> str:
    """SECRET_KEY when set (and long enough), otherwise the instance folder's own key."""
    if not configured:
        return instance_secret_key(instance_path)
    if len(configured) < MIN_SECRET_CHARS:
        raise WeakSecretKey(
            f"SECRET_KEY must be at least {MIN_SECRET_CHARS} characters "
            '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
    return configured


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose only, so a MAC made for one use is worthless for another."""
    return hmac.new(secret.encode(), f"faq-bot/{purpose}".encode(), hashlib.sha256).digest()
