"""Password hashing with Argon2id (memory-hard), through argon2-cffi's defaults (RFC 9106 low-memory
profile). Hashing takes tens of milliseconds on purpose: callers run it in a thread."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 8


@functools.cache
def _dummy() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a wrong password (made
    at the first sign-in, not at import: a hash costs as much as a tenth of the platform's start)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"password: must have at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def random_password() -> str:
    return secrets.token_urlsafe(15)
