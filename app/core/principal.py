"""A principal is whoever a request acts for: a signed-in user, a personal access token's user, or a device
key. Roles are ordered: each one may do what the ones below it may."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "operator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def check_role(role: str) -> str:
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    sites: frozenset[str] | None = None  # None: every site
    via: str = "session"  # session, token, device
    user_id: int | None = None
    language: str | None = None  # the account's choice (app.core.i18n.LANGUAGES); None: the browser's

    def has_role(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def may_use_site(self, site: str | None) -> bool:
        return self.sites is None or (site is not None and site in self.sites)

    @property
    def scoped(self) -> bool:
        return self.sites is not None
