"""Accounts: users and their roles, sign-in with throttling, personal access tokens, and the audit log.

Users and tokens are held in memory (a few hundred at most) so that checking a request costs a dictionary
look-up; every change here updates that copy, and it is reloaded from the database at most every
`RELOAD_S` seconds so that changes made by another instance or by `python -m app.cli` are seen.
Secrets are kept only as hashes: Argon2id for passwords (slow on purpose), SHA-256 for tokens (random
and long, so a fast hash is enough and keeps every request cheap).
"""

from __future__ import annotations

from .core import (
    RELOAD_S,
    TOKEN_PREFIX,
    AuditEntry,
    LoginRefused,
    MadeToken,
    Throttle,
    TokenInfo,
    UserInfo,
    check_manages,
    digest,
    token_info,
    user_info,
)
from .tokens import TokensAndAudit
from .users import Users

__all__ = [
    "RELOAD_S",
    "TOKEN_PREFIX",
    "AccountService",
    "AuditEntry",
    "LoginRefused",
    "MadeToken",
    "Throttle",
    "TokenInfo",
    "UserInfo",
    "check_manages",
    "digest",
    "token_info",
    "user_info",
]


class AccountService(TokensAndAudit, Users):
    """Accounts as the platform uses them: users, sign-in, tokens and the audit log (`core.py`, `users.py`,
    `tokens.py`)."""
