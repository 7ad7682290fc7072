"""Users and their roles: list, create, change and delete them (always keeping an administrator), and the
accounts single sign-on makes."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.db.models import AccessToken, AuditEvent, User
from app.core.domain.readings import FieldError
from app.core.i18n import LANGUAGES, _
from app.core.passwords import hash_password
from app.core.principal import ROLES, Principal, check_role

from ..errors import Conflict, NotFound
from ..scope import covers
from .core import AccountsCore, LoginRefused, UserInfo, _check_name, _check_sites, check_manages, user_info


class Users(AccountsCore):
    # -- users
    async def list_users(self, by: Principal | None = None) -> list[UserInfo]:
        """Every account, or those a site-limited admin `by` manages (`check_manages`)."""

        def work() -> list[UserInfo]:
            with self.sessions() as db:
                users = db.scalars(select(User).order_by(User.name))
                return [user_info(u) for u in users if by is None or covers(by.sites, u.sites)]

        return await asyncio.to_thread(work)

    def create_user_sync(
        self,
        name: Any,
        role: Any,
        password: Any = None,
        sites: Any = None,
        *,
        actor: str = "system",
        by: Principal | None = None,
    ) -> UserInfo:
        name = _check_name(name)
        check_manages(by, _check_sites(sites), "an account of every site")
        if role not in ROLES:
            raise FieldError(
                "role", _("must be one of {choices}").format(choices=", ".join(ROLES))
            ).as_error()
        if password is not None and not isinstance(password, str):
            raise FieldError("password", _("must be text")).as_error()
        try:
            hashed = hash_password(password) if password else None
        except ValueError as exc:
            raise FieldError("password", str(exc).split(": ", 1)[1]).as_error() from None
        with self.sessions.begin() as db:
            if db.scalar(select(User.id).where(User.name == name)) is not None:
                raise Conflict(_("a user named {name!r} exists already").format(name=name))
            user = User(name=name, role=role, sites=_check_sites(sites), password_hash=hashed)
            db.add(user)
            db.flush()
            db.add(
                AuditEvent(
                    actor=actor, action="user.create", target=name, detail={"role": role, "sites": user.sites}
                )
            )
            out = user_info(user)
        self.load()
        return out

    async def create_user(self, body: dict[str, Any], actor: str, by: Principal | None = None) -> UserInfo:
        return await asyncio.to_thread(
            functools.partial(
                self.create_user_sync,
                body.get("name"),
                body.get("role"),
                body.get("password"),
                body.get("sites"),
                actor=actor,
                by=by,
            )
        )

    async def update_user(
        self, user_id: int, body: dict[str, Any], actor: str, by: Principal | None = None
    ) -> UserInfo:
        def work() -> UserInfo:
            changes: dict[str, Any] = {}
            if "role" in body:
                if body["role"] not in ROLES:
                    raise FieldError(
                        "role", _("must be one of {choices}").format(choices=", ".join(ROLES))
                    ).as_error()
                changes["role"] = body["role"]
            if "sites" in body:
                changes["sites"] = _check_sites(body["sites"])
            if "disabled" in body:
                if not isinstance(body["disabled"], bool):
                    raise FieldError("disabled", _("must be true or false")).as_error()
                changes["disabled"] = body["disabled"]
            if "password" in body:
                if not isinstance(body["password"], str):
                    raise FieldError("password", _("must be text")).as_error()
                try:
                    changes["password_hash"] = hash_password(body["password"])
                except ValueError as exc:
                    raise FieldError("password", str(exc).split(": ", 1)[1]).as_error() from None
            unknown = set(body) - {"role", "sites", "disabled", "password"}
            if unknown:
                raise FieldError(
                    sorted(unknown)[0], _("cannot be changed; use role, sites, disabled, password")
                ).as_error()
            with self.sessions.begin() as db:
                user = db.get(User, user_id)
                if user is None:
                    raise NotFound(_("no user with id {user_id}").format(user_id=user_id))
                check_manages(by, user.sites, f"the account {user.name!r}")
                if "sites" in changes:
                    check_manages(by, changes["sites"], "an account of every site")
                for field, value in changes.items():
                    setattr(user, field, value)
                if user.role != "admin" or user.disabled:
                    self._keep_an_admin(db, user.id)
                shown = {k: ("***" if k == "password_hash" else v) for k, v in changes.items()}
                db.add(AuditEvent(actor=actor, action="user.update", target=user.name, detail=shown))
                out = user_info(user)
            self.load()
            return out

        return await asyncio.to_thread(work)

    async def set_language(self, user_id: int, language: str | None) -> None:
        """The language an account reads its pages in (one of `app.core.i18n.LANGUAGES`; None: its browser's).
        Anyone may choose their own; it takes effect on the next page."""
        if language is not None and language not in LANGUAGES:
            raise FieldError(
                "language", _("must be one of {choices}").format(choices=", ".join(LANGUAGES))
            ).as_error()

        def work() -> None:
            with self.sessions.begin() as db:
                user = db.get(User, user_id)
                if user is None:
                    raise NotFound(_("no user with id {user_id}").format(user_id=user_id))
                user.language = language
            self.load()

        await asyncio.to_thread(work)

    async def delete_user(self, user_id: int, actor: str, by: Principal | None = None) -> int:
        """Delete an account (and its tokens), never the last active admin; its id."""

        def work() -> int:
            with self.sessions.begin() as db:
                user = db.get(User, user_id)
                if user is None:
                    raise NotFound(_("no user with id {user_id}").format(user_id=user_id))
                check_manages(by, user.sites, f"the account {user.name!r}")
                self._keep_an_admin(db, user.id)
                db.execute(delete(AccessToken).where(AccessToken.user_id == user_id))
                db.delete(user)
                db.add(AuditEvent(actor=actor, action="user.delete", target=user.name))
            self.load()
            return user_id

        return await asyncio.to_thread(work)

    @staticmethod
    def _keep_an_admin(db: Session, leaving: int) -> None:
        others = db.scalar(
            select(User.id).where(User.role == "admin", User.disabled.is_(False), User.id != leaving).limit(1)
        )
        if others is None:
            raise Conflict(_("this is the last active admin; make another admin first"))

    def sso_user(self, subject: str, name: str, role: str) -> Principal:
        """The account of a single sign-on user (created on first sign-in); its role follows the claims."""
        check_role(role)
        with self.sessions.begin() as db:
            user = db.scalar(select(User).where(User.oidc_subject == subject))
            if user is None:
                taken = db.scalar(select(User.id).where(User.name == name)) is not None
                user = User(name=f"{name} (sso)" if taken else name, role=role, oidc_subject=subject)
                db.add(user)
                db.add(AuditEvent(actor="sso", action="user.create", target=user.name, detail={"role": role}))
            elif user.role != role:
                db.add(AuditEvent(actor="sso", action="user.update", target=user.name, detail={"role": role}))
                user.role = role
            db.flush()
            disabled, principal = (
                user.disabled,
                Principal(
                    user.name,
                    user.role,
                    frozenset(user.sites) if user.sites is not None else None,
                    "session",
                    user.id,
                ),
            )
        self.load()
        if disabled:
            raise LoginRefused(_("the account {name!r} is disabled").format(name=principal.name))
        return principal
