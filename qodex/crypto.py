"""The one place secrets are encrypted at rest (SPEC §6, §7, §11).

Keys come from `settings.QODEX_ENCRYPTION_KEYS` (Fernet keys, newest first): new ciphertext always uses
the first key, and every listed key still decrypts, so a key is replaced by putting the new one first,
running `manage.py rotate_encryption_keys`, then dropping the old one.

Models store secrets in an `EncryptedTextField`: plaintext on the Python attribute, ciphertext in the
column. Settings are read on every call (the MultiFernet is cached per key list), so tests can override
them.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

MASK = "••••"
PASSWORD_MASK = "••••••••"
# A token shows its tail only when that tail is a small part of it.
TOKEN_TAIL_MIN_LENGTH = 16


class DecryptionError(Exception):
    """A stored secret that none of the configured keys can open."""


def derive_key(secret: str) -> str:
    """A Fernet key derived from `secret` (SECRET_KEY): only for development, where no key is configured."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("QODEX_ENCRYPTION_KEYS is empty: secrets can’t be encrypted.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"QODEX_ENCRYPTION_KEYS: key #{position} is not a Fernet key (32 url-safe base64 bytes)."
            ) from exc
    return MultiFernet(fernets)


def _fernet() -> MultiFernet:
    return _multi_fernet(tuple(settings.QODEX_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """Encrypt `plaintext` under the newest key; the token is ASCII text, different on every call."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a token made by `encrypt` with any configured key; DecryptionError if none opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "A stored secret could not be decrypted with any key in QODEX_ENCRYPTION_KEYS. "
            "Was a key removed before `manage.py rotate_encryption_keys` ran?"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt `token` under the newest key without handing the plaintext to the caller."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "A stored secret could not be decrypted with any key in QODEX_ENCRYPTION_KEYS, "
            "so it can’t be rotated. Keep every old key listed (after the new one) until rotation is done."
        ) from exc


def mask(value: str | None, visible: int = 4) -> str:
    """A token, key or secret variable as people see it: `••••1a2b`, its last `visible` characters.

    Only a long secret (16 characters, or 4 × `visible`) shows its tail; a shorter one shows dots alone,
    as its last four would give away too much of it. Passwords use `mask_password`.
    """
    if not value:
        return ""
    if visible <= 0 or len(value) < max(TOKEN_TAIL_MIN_LENGTH, 4 * visible):
        return MASK
    return MASK + value[-visible:]


def mask_password(value: str | None) -> str:
    """A password as people see it: `••••••••`, none of its characters and not its length; "" if unset."""
    return PASSWORD_MASK if value else ""


class EncryptedTextField(models.TextField):
    """Plaintext on the model attribute, Fernet ciphertext in the column.

    None stays None and "" stays "" (so "no secret" is visible without decrypting). The ciphertext
    differs on every save, so the column can't be searched or compared in SQL.
    `manage.py rotate_encryption_keys` finds every field of this class on every model.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
