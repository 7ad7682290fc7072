"""Accounts' ground: the in-memory copy of users and tokens, first start, sign-in with throttling, and what
the other parts share (hashes, throttles, the checks of names and sites).

Users and tokens are held in memory (a few hundred at most) so that checking a request costs a dictionary
look-up; every change here updates that copy, and it is reloaded from the database at most every
`RELOAD_S` seconds so that changes made by another instance or by `python -m app.cli` are seen.
Secrets are kept only as hashes: Argon2id for passwords (slow on purpose), SHA-256 for tokens (random
and long, so a fast hash is enough and keeps every request cheap).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.db.models import AccessToken, AuditEvent, User
from app.core.domain.readings import FieldError
from app.core.i18n import _
from app.core.passwords import hash_password, random_password, verify_password
from app.core.principal import Principal
from app.core.settings import Settings

from ..scope import OutOfScope, covers

log = logging.getLogger(__name__)
TOKEN_PREFIX = "iaqp_"
RELOAD_S = 30.0
_MISSES_KEPT = 10_000


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LoginRefused(Exception):
    """Wrong name or password, or too many failures (then `retry_after_s` is set)."""

    def __init__(self, message: str, retry_after_s: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class _UserEntry:
    id: int
    name: str
    role: str
    sites: frozenset[str] | None
    disabled: bool
    language: str | None = None

    def principal(self, via: str) -> Principal:
        return Principal(self.name, self.role, self.sites, via, self.id, self.language)


@dataclass(frozen=True, slots=True)
class _TokenEntry:
    user_id: int
    expires_at: float | None


class Throttle:
    """Sign-in failures per key, with delays that grow: after `free` failures the key waits 1 s before it may
    try again, and each further failure doubles the wait (2 s, 4 s ...) up to `max_wait_s`; failures older
    than `max_wait_s` are forgotten. Keys are (name, address) pairs and addresses (see `AccountService`),
    never a name alone, so nobody can lock a user out by failing with its name from elsewhere."""

    def __init__(self, free: int, max_wait_s: float, clock: Callable[[], float]):
        self.free, self.max_wait_s, self.clock = free, max_wait_s, clock
        self.failures: dict[Any, list[float]] = {}

    def wait_s(self, key: Any) -> float:
        """Seconds before `key` may try again (0: now)."""
        now = self.clock()
        recent = [t for t in self.failures.get(key, ()) if now - t < self.max_wait_s]
        if recent:
            self.failures[key] = recent
        else:
            self.failures.pop(key, None)
        over = len(recent) - self.free
        if over < 0:
            return 0.0
        delay = min(self.max_wait_s, 2.0**over)
        return max(0.0, recent[-1] + delay - now)

    def fail(self, key: Any) -> None:
        self.failures.setdefault(key, []).append(self.clock())
        if len(self.failures) > 100_000:  # a flood of names: forget the oldest half
            for stale in list(self.failures)[:50_000]:
                del self.failures[stale]

    def succeed(self, key: Any) -> None:
        self.failures.pop(key, None)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One event of the audit log: who did what, to what, when (UTC) and from where."""

    at: datetime
    actor: str
    action: str  # `request` (a change through the API), `user.create` ..., or a page's own words
    target: str | None
    detail: dict[str, Any] | None
    address: str | None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An account as the service answers it (the API writes the contract's JSON); never its password."""

    id: int
    name: str
    role: str
    sites: tuple[str, ...] | None  # None: every site
    sso: bool  # made by single sign-on
    local_password: bool
    disabled: bool
    created_at: datetime


def user_info(user: User) -> UserInfo:
    sites = tuple(user.sites) if user.sites is not None else None
    return UserInfo(
        user.id, user.name, user.role, sites, user.oidc_subject is not None, user.password_hash is not None,
        user.disabled, user.created_at,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A personal access token as the service answers it (the API writes the contract's JSON); never the
    secret, which only `MadeToken` carries, once."""

    id: int
    name: str
    prefix: str
    user_id: int
    user: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class MadeToken:
    info: TokenInfo
    secret: str


def token_info(token: AccessToken, user_name: str | None = None) -> TokenInfo:
    return TokenInfo(
        token.id, token.name, token.prefix, token.user_id, user_name, token.created_at, token.expires_at,
        token.revoked_at is not None,
    )  # fmt: skip


def _check_sites(sites: Any) -> list[str] | None:
    if sites is None:
        return None
    if not isinstance(sites, list) or not all(isinstance(s, str) and s.strip() for s in sites):
        raise FieldError("sites", _("must be a list of site names, or null for every site")).as_error()
    return sorted({s.strip() for s in sites})


def check_manages(by: Principal | None, sites: Any, what: str) -> None:
    """A site-limited admin (`by`) manages only what is limited to its sites: accounts whose sites are all
    its own, their tokens, its sites' device keys. `by` None: the system, the CLI, an unrestricted admin's
    page (the Settings page is for unrestricted admins only)."""
    if by is not None and not covers(by.sites, sites):
        mine = ", ".join(sorted(by.sites or ()))
        raise OutOfScope(
            _("{name} manages only what is limited to its sites ({mine}); {what} is not").format(
                name=by.name, mine=mine, what=what
            )
        )


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128:
        raise FieldError("name", _("must be a non-empty text of at most 128 characters")).as_error()
    return name.strip()


class AccountsCore:
    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, clock: Callable[[], float] = time.time
    ):
        self.sessions, self.settings, self.clock = sessions, settings, clock
        self._users: dict[int, _UserEntry] = {}
        self._tokens: dict[str, _TokenEntry] = {}
        self._misses: dict[str, float] = {}
        self._loaded_at = float("-inf")
        # one name tried from one address, and every name tried from one address (a guesser going through
        # names); a name alone is never a key, so failures elsewhere cannot lock its owner out
        self.by_pair = Throttle(settings.login_max_failures, settings.login_lockout_s, lambda: self.clock())
        self.by_address = Throttle(
            settings.login_max_failures * 4, settings.login_lockout_s, lambda: self.clock()
        )

    # -- the in-memory copy
    def load(self) -> None:
        with self.sessions() as db:
            users = {
                u.id: _UserEntry(
                    u.id,
                    u.name,
                    u.role,
                    frozenset(u.sites) if u.sites is not None else None,
                    u.disabled,
                    u.language,
                )
                for u in db.scalars(select(User))
            }
            tokens = {
                t.token_hash: _TokenEntry(t.user_id, t.expires_at.timestamp() if t.expires_at else None)
                for t in db.scalars(select(AccessToken).where(AccessToken.revoked_at.is_(None)))
            }
        self._users, self._tokens, self._misses = users, tokens, {}
        self._loaded_at = time.monotonic()

    async def fresh(self) -> None:
        """Reload when the copy is older than RELOAD_S (cheap to call on every request)."""
        if time.monotonic() - self._loaded_at > RELOAD_S:
            self._loaded_at = time.monotonic()  # one reload at a time
            await asyncio.to_thread(self.load)

    def principal_for_user(self, user_id: Any) -> Principal | None:
        entry = self._users.get(user_id) if isinstance(user_id, int) else None
        return None if entry is None or entry.disabled else entry.principal("session")

    async def principal_for_token(self, secret: str) -> Principal | None:
        """The principal of a personal access token, or None (unknown, revoked, expired, user disabled)."""
        key = digest(secret)
        entry = self._tokens.get(key)
        if entry is None and key not in self._misses:
            entry = await asyncio.to_thread(self._token_from_db, key)  # made by the CLI a moment ago?
            if entry is None:
                if len(self._misses) > _MISSES_KEPT:
                    self._misses.clear()
                self._misses[key] = time.monotonic()
        if entry is None or (entry.expires_at is not None and entry.expires_at < self.clock()):
            return None
        user = self._users.get(entry.user_id)
        return None if user is None or user.disabled else user.principal("token")

    def _token_from_db(self, key: str) -> _TokenEntry | None:
        with self.sessions() as db:
            token = db.scalar(
                select(AccessToken).where(AccessToken.token_hash == key, AccessToken.revoked_at.is_(None))
            )
            if token is None or not hmac.compare_digest(token.token_hash, key):
                return None
            user = db.get(User, token.user_id)
            if user is not None:
                self._users[user.id] = _UserEntry(
                    user.id,
                    user.name,
                    user.role,
                    frozenset(user.sites) if user.sites is not None else None,
                    user.disabled,
                )
            entry = _TokenEntry(token.user_id, token.expires_at.timestamp() if token.expires_at else None)
        self._tokens[key] = entry
        return entry

    # -- first start
    def bootstrap(self) -> None:
        """With no account yet, create `admin` with IAQ_ADMIN_PASSWORD, or with a random password printed
        once to the log. IAQ_ADMIN_TOKEN, when set, becomes a personal access token of the first admin."""
        with self.sessions.begin() as db:
            if db.scalar(select(User.id).limit(1)) is None:
                password = self.settings.admin_password or random_password()
                db.add(User(name="admin", role="admin", password_hash=hash_password(password)))
                if self.settings.admin_password:
                    log.warning(
                        "first start: created the account 'admin' with the password of IAQ_ADMIN_PASSWORD"
                    )
                else:
                    log.warning(
                        "first start: created the account 'admin' with the password %s (shown once; change "
                        "it in Settings, or set IAQ_ADMIN_PASSWORD before the first start)",
                        password,
                    )
                db.add(
                    AuditEvent(actor="system", action="user.create", target="admin", detail={"role": "admin"})
                )
            token = self.settings.admin_token
            if (
                token
                and db.scalar(select(AccessToken.id).where(AccessToken.token_hash == digest(token))) is None
            ):
                admin = db.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
                if admin is not None:
                    db.add(
                        AccessToken(
                            user_id=admin.id,
                            name="IAQ_ADMIN_TOKEN",
                            prefix=token[:8],
                            token_hash=digest(token),
                        )
                    )
        self.load()

    # -- sign-in
    async def sign_in(self, name: str, password: str, address: str | None) -> Principal:
        """Check a local account's password; LoginRefused after a failure, with `retry_after_s` while this
        name from this address, or this address, must wait (growing delays, see `Throttle`; then even the
        right password waits, from that address only)."""
        address = address or "unknown"
        pair = (name.lower(), address)
        wait = max(self.by_pair.wait_s(pair), self.by_address.wait_s(address))
        if wait > 0:
            await self.audit(name, "login.throttled", None, None, address)
            raise LoginRefused(
                _("too many failed sign-ins from this address; try again in {ceil} s").format(
                    ceil=math.ceil(wait)
                ),
                retry_after_s=math.ceil(wait),
            )
        found = await asyncio.to_thread(self._verify, name, password)
        if found is None:
            self.by_pair.fail(pair)
            self.by_address.fail(address)
            await self.audit(name, "login.failed", None, None, address)
            raise LoginRefused(_("wrong user name or password"))
        self.by_pair.succeed(pair)
        await self.audit(found.name, "login", None, {"via": "password"}, address)
        return found

    def _verify(self, name: str, password: str) -> Principal | None:
        with self.sessions() as db:
            user = db.scalar(select(User).where(User.name == name))
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.disabled:
            return None
        return Principal(
            user.name,
            user.role,
            frozenset(user.sites) if user.sites is not None else None,
            "session",
            user.id,
        )
