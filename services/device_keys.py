"""Device keys: what lets a sensor (or a gateway, the simulator, the MQTT bridge) write readings for one site.

A key is shown once when made; only its SHA-256 hash is stored. Checking a request costs one hash and one
dictionary look-up (the hashes of the active keys are held in memory), then a constant-time comparison.
A key unknown to memory is looked up in the database once (it may have been made a moment ago by
`python -m app.cli create-api-key`), then remembered as unknown for a while.
Each key has a token bucket: `IAQ_DEVICE_KEY_RATE` requests per second on average, bursts up to
`IAQ_DEVICE_KEY_BURST`; past it the request is refused with 429 and how long to wait.

`authorize(key, site)` is the one entry point for every lane: HTTP ingestion and the MQTT bridge.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.db.models import AuditEvent, DeviceKey, Site
from app.core.domain.readings import FieldError
from app.core.i18n import _
from app.core.principal import Principal

from .accounts import RELOAD_S, AccountService, check_manages, digest
from .errors import NotFound
from .scope import covers

KEY_PREFIX = "iaqk_"
MISS_TTL_S = 10.0
_MISSES_KEPT = 10_000


class KeyRefused(Exception):
    """401 (no or unknown key), 403 (another site's key) or 429 (too many requests; `retry_after_s`)."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None):
        super().__init__(message)
        self.status, self.message, self.retry_after_s = status, message, retry_after_s

    def headers(self) -> dict[str, str]:
        if self.status == 429:
            return {"Retry-After": str(self.retry_after_s)}
        if self.status == 401:
            return {"WWW-Authenticate": 'Bearer realm="iaqverse devices"'}
        return {}


@dataclass(slots=True)
class _Key:
    id: int
    site: str
    name: str
    key_hash: str
    tokens: float = field(default=0.0)
    refilled_at: float = field(default=0.0)


@dataclass(frozen=True, slots=True)
class Grant:
    """Who writes: a device key's site, or a principal (an admin token) that may write for any site."""

    site: str | None
    key_id: int | None = None
    principal: Principal | None = None

    def allows(self, site: str | None) -> bool:
        return self.site is None or site == self.site


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A device key as the service answers it (the API writes it in the contract's JSON: `app/api/auth.py`).
    The secret is never kept: only `MadeKey` carries it, once."""

    id: int
    site: str
    name: str
    prefix: str
    created_at: datetime
    revoked: bool


@dataclass(frozen=True, slots=True)
class MadeKey:
    info: KeyInfo
    secret: str


def key_info(key: DeviceKey) -> KeyInfo:
    return KeyInfo(key.id, key.site, key.name, key.prefix, key.created_at, key.revoked_at is not None)


class DeviceKeys:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        accounts: AccountService,
        *,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.sessions, self.accounts = sessions, accounts
        self.rate_per_s, self.burst, self.clock = rate_per_s, burst, clock
        self._keys: dict[str, _Key] = {}
        self._misses: dict[str, float] = {}
        self._loaded_at = float("-inf")

    def load(self) -> None:
        with self.sessions() as db:
            rows = db.scalars(select(DeviceKey).where(DeviceKey.revoked_at.is_(None))).all()
            keys = {k.key_hash: self._entry(k) for k in rows}
        for key_hash, old in self._keys.items():  # keep the buckets of keys that stay
            if key_hash in keys:
                keys[key_hash].tokens, keys[key_hash].refilled_at = old.tokens, old.refilled_at
        self._keys, self._misses = keys, {}
        self._loaded_at = time.monotonic()

    def _entry(self, key: DeviceKey) -> _Key:
        return _Key(key.id, key.site, key.name, key.key_hash, float(self.burst), self.clock())

    async def authorize(self, key: str | None, site: str | None = None) -> Grant:
        """The grant of a presented key (or admin personal access token), spending one request of its
        rate; with `site`, also that it may write for that site. Raises KeyRefused."""
        grant = await self.grant(key)
        if site is not None and not grant.allows(site):
            raise KeyRefused(403, f"this key writes for site {grant.site!r}, not for {site!r}")
        return grant

    async def grant(self, key: str | None) -> Grant:
        if not key:
            raise KeyRefused(401, "send a device key: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
        if time.monotonic() - self._loaded_at > RELOAD_S:  # revocations made by another instance
            self._loaded_at = time.monotonic()
            await asyncio.to_thread(self.load)
        if key.startswith(KEY_PREFIX):
            entry = await self._lookup(digest(key))
            if entry is None:
                raise KeyRefused(401, "unknown or revoked device key")
            self._spend(entry)
            return Grant(entry.site, entry.id)
        principal = await self.accounts.principal_for_token(key)
        if principal is None:
            raise KeyRefused(401, "unknown or revoked key")
        if not principal.has_role("admin") or principal.scoped:
            raise KeyRefused(403, "writing readings needs a device key (or an unrestricted admin's token)")
        return Grant(None, principal=principal)

    async def _lookup(self, key_hash: str) -> _Key | None:
        entry = self._keys.get(key_hash)
        if entry is None:
            missed = self._misses.get(key_hash)
            if missed is not None and self.clock() - missed < MISS_TTL_S:
                return None
            entry = await asyncio.to_thread(self._from_db, key_hash)
            if entry is None:
                if len(self._misses) > _MISSES_KEPT:
                    self._misses.clear()
                self._misses[key_hash] = self.clock()
                return None
        return entry if hmac.compare_digest(entry.key_hash, key_hash) else None

    def _from_db(self, key_hash: str) -> _Key | None:
        with self.sessions() as db:
            row = db.scalar(
                select(DeviceKey).where(DeviceKey.key_hash == key_hash, DeviceKey.revoked_at.is_(None))
            )
            if row is None:
                return None
            entry = self._keys[key_hash] = self._entry(row)
        return entry

    def _spend(self, entry: _Key) -> None:
        now = self.clock()
        entry.tokens = min(float(self.burst), entry.tokens + (now - entry.refilled_at) * self.rate_per_s)
        entry.refilled_at = now
        if entry.tokens < 1.0:
            wait = math.ceil((1.0 - entry.tokens) / self.rate_per_s)
            raise KeyRefused(429, f"too many requests with this key; retry in {wait} s", retry_after_s=wait)
        entry.tokens -= 1.0

    # -- management (settings page, API, CLI)
    def create_sync(
        self,
        site: Any,
        name: Any = "device",
        *,
        actor: str = "system",
        by: Principal | None = None,
        new_site_timezone: str | None = None,
    ) -> MadeKey:
        """A key for an existing site (a typo must not make a key for a site that does not exist);
        `new_site_timezone` creates a missing site first (the operator's command line, before the first
        reading)."""
        if not isinstance(site, str) or not site.strip():
            raise FieldError("site", _("must name the site the key writes for")).as_error()
        check_manages(by, [site.strip()], f"a key of the site {site.strip()!r}")
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise FieldError("name", _("must be a non-empty text of at most 128 characters")).as_error()
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as db:
            if db.scalar(select(Site.id).where(Site.name == site.strip())) is None:
                if new_site_timezone is None:
                    raise FieldError(
                        "site",
                        _(
                            "no site named {strip!r}: create the site first (Settings, or POST "
                            "/api/config/sites)"
                        ).format(strip=site.strip()),
                    ).as_error()
                db.add(Site(name=site.strip(), timezone=new_site_timezone))
            key = DeviceKey(site=site.strip(), name=name.strip(), prefix=secret[:12], key_hash=digest(secret))
            db.add(key)
            db.flush()
            db.add(AuditEvent(actor=actor, action="key.create", target=f"{key.site}/{key.name}"))
            made = MadeKey(key_info(key), secret)
            self._keys[key.key_hash] = self._entry(key)
        self._misses.pop(digest(secret), None)
        return made

    async def create(self, body: dict[str, Any], actor: str, by: Principal | None = None) -> MadeKey:
        return await asyncio.to_thread(
            functools.partial(
                self.create_sync, body.get("site"), body.get("name", "device"), actor=actor, by=by
            )
        )

    async def list(self, by: Principal | None = None) -> list[KeyInfo]:
        """Every key, or those of a site-limited admin `by`'s sites."""

        def work() -> list[KeyInfo]:
            with self.sessions() as db:
                keys = db.scalars(select(DeviceKey).order_by(DeviceKey.site, DeviceKey.id))
                return [key_info(k) for k in keys if by is None or covers(by.sites, [k.site])]

        return await asyncio.to_thread(work)

    async def revoke(self, key_id: int, actor: str, by: Principal | None = None) -> int:
        """Revoke a key (it stops working at once); its id."""

        def work() -> int:
            with self.sessions.begin() as db:
                key = db.get(DeviceKey, key_id)
                if key is None:
                    raise NotFound(_("no device key with id {key_id}").format(key_id=key_id))
                check_manages(by, [key.site], f"device key {key_id}")
                key.revoked_at = datetime.now(UTC)
                db.add(AuditEvent(actor=actor, action="key.revoke", target=f"{key.site}/{key.name}"))
                self._keys.pop(key.key_hash, None)
            return key_id

        return await asyncio.to_thread(work)
