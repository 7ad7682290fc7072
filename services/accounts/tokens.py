"""Personal access tokens (made, listed and revoked by their owners and administrators) and the audit log."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.core.db.models import AccessToken, AuditEvent, User
from app.core.domain.readings import FieldError
from app.core.i18n import _
from app.core.principal import Principal

from ..errors import NotFound
from ..scope import covers
from .core import (
    TOKEN_PREFIX,
    AccountsCore,
    AuditEntry,
    MadeToken,
    TokenInfo,
    _check_name,
    check_manages,
    digest,
    token_info,
)

log = logging.getLogger(__name__)


class TokensAndAudit(AccountsCore):
    # -- personal access tokens
    def create_token_sync(
        self, user_name: str, name: str = "token", days: float | None = None, *, actor: str = "system"
    ) -> MadeToken:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as db:
            user = db.scalar(select(User).where(User.name == user_name))
            if user is None:
                raise NotFound(_("no user named {user_name!r}").format(user_name=user_name))
            expires = datetime.fromtimestamp(self.clock(), UTC) + timedelta(days=days) if days else None
            token = AccessToken(
                user_id=user.id,
                name=_check_name(name),
                prefix=secret[:12],
                token_hash=digest(secret),
                expires_at=expires,
            )
            db.add(token)
            db.flush()
            db.add(AuditEvent(actor=actor, action="token.create", target=f"{user.name}/{token.name}"))
            made = MadeToken(token_info(token, user.name), secret)
        self.load()
        return made

    async def create_token(self, principal: Principal, body: dict[str, Any]) -> MadeToken:
        days = body.get("days")
        if days is not None and (
            not isinstance(days, int | float) or isinstance(days, bool) or not 0 < days <= 3650
        ):
            raise FieldError(
                "days", _("must be a number of days between 0 and 3650, or null for no expiry")
            ).as_error()
        return await asyncio.to_thread(
            self.create_token_sync, principal.name, body.get("name", "token"), days, actor=principal.name
        )

    async def list_tokens(
        self, principal: Principal | None = None, *, by: Principal | None = None
    ) -> list[TokenInfo]:
        """The tokens of `principal`, or of everyone (for admins; a site-limited admin `by`: of the accounts
        it manages); never their secrets."""

        def work() -> list[TokenInfo]:
            with self.sessions() as db:
                query = select(AccessToken, User.name, User.sites).join(User).order_by(AccessToken.id)
                if principal is not None:
                    query = query.where(AccessToken.user_id == principal.user_id)
                return [
                    token_info(t, n)
                    for t, n, sites in db.execute(query)
                    if by is None or covers(by.sites, sites)
                ]

        return await asyncio.to_thread(work)

    async def revoke_token(self, token_id: int, principal: Principal) -> int:
        """Revoke a token (the owner's own, or any an admin manages); its id."""

        def work() -> int:
            with self.sessions.begin() as db:
                token = db.get(AccessToken, token_id)
                if token is None or (token.user_id != principal.user_id and not principal.has_role("admin")):
                    raise NotFound(_("no token with id {token_id}").format(token_id=token_id))
                if token.user_id != principal.user_id:  # an admin revoking another account's token
                    owner = db.get(User, token.user_id)
                    check_manages(principal, owner.sites if owner else None, f"token {token_id}")
                token.revoked_at = datetime.now(UTC)
                db.add(
                    AuditEvent(actor=principal.name, action="token.revoke", target=f"{token.id}/{token.name}")
                )
            self.load()
            return token_id

        return await asyncio.to_thread(work)

    # -- audit log
    async def audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        detail: dict | None = None,
        address: str | None = None,
    ) -> None:
        def work() -> None:
            with self.sessions.begin() as db:
                db.add(
                    AuditEvent(
                        actor=actor[:128],
                        action=action[:64],
                        target=target[:256] if target else None,  # names of 128 characters make long targets
                        detail=detail,
                        address=address,
                    )
                )

        await asyncio.to_thread(work)

    async def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        """The newest `limit` events first."""

        def work() -> list[AuditEntry]:
            with self.sessions() as db:
                rows = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
                return [AuditEntry(e.at, e.actor, e.action, e.target, e.detail, e.address) for e in rows]

        return await asyncio.to_thread(work)
