"""Single sign-on with OpenID Connect (authorization code flow with PKCE, through Authlib).

Configured by `IAQ_OIDC_ISSUER`, `IAQ_OIDC_CLIENT_ID` and `IAQ_OIDC_CLIENT_SECRET`; the provider is found
through its discovery document, the ID token's signature, issuer, audience and nonce are checked by
Authlib. Roles come from one claim (`IAQ_OIDC_ROLE_CLAIM`, e.g. `groups`) mapped by `IAQ_OIDC_ROLE_MAP`;
a user whose claims map to no role gets `IAQ_OIDC_DEFAULT_ROLE`, or is refused when that is unset.
The state, nonce and PKCE verifier wait in the (signed) session cookie between the two legs.
"""

from __future__ import annotations

import asyncio
import logging
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth.middleware import safe_target, session_storage, start_session
from app.core.i18n import _, language, use_language
from app.core.principal import ROLES
from app.core.settings import Settings
from app.runtime import Runtime
from services.accounts import LoginRefused

log = logging.getLogger(__name__)
_NEXT = "oidc_next"


def map_role(claims: dict[str, Any], settings: Settings) -> str | None:
    """The highest role any value of the role claim maps to; else the default role (None: refuse)."""
    value = claims.get(settings.oidc_role_claim)
    values = value if isinstance(value, list) else [value] if value is not None else []
    roles = [settings.oidc_role_map[v] for v in values if isinstance(v, str) and v in settings.oidc_role_map]
    if roles:
        return max(roles, key=ROLES.index)
    return settings.oidc_default_role


def _page(status: int, message: str) -> HTMLResponse:
    """Why single sign-on failed, for a person (in the language of the request: see `in_language`)."""
    failed, back = escape(_("Sign-in failed")), escape(_("Back to sign-in"))
    return HTMLResponse(
        f"<!doctype html><html lang='{language()}'><meta charset='utf-8'><title>{failed} · IAQverse</title>"
        f"<body style='font-family:sans-serif;margin:3em'><h1>{failed}</h1><p>{escape(message)}</p>"
        f"<p><a href='/login'>{back}</a></p></body></html>",
        status_code=status,
    )


def _language_of(request: Request) -> str | None:
    return getattr(request.state, "language", None)  # the account's or the browser's (app/auth/middleware.py)


def router(runtime: Runtime) -> APIRouter:
    from authlib.integrations.starlette_client import OAuth, OAuthError

    settings = runtime.settings
    r = APIRouter(include_in_schema=False)
    oauth = OAuth()
    oauth.register(
        "sso",
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"},
    )

    @r.get("/auth/oidc/login")
    async def start(request: Request, redirect_to: str = "/") -> Response:
        request.session[_NEXT] = safe_target(redirect_to)
        try:
            return await oauth.sso.authorize_redirect(request, str(request.url_for("oidc_callback")))
        except Exception as exc:  # the provider is down or misconfigured: say so, keep local sign-in usable
            log.warning("single sign-on: cannot reach the provider at %s: %r", settings.oidc_issuer, exc)
            with use_language(_language_of(request)):
                return _page(502, _("the single sign-on provider does not answer; try again later"))

    @r.get("/auth/oidc/callback", name="oidc_callback")
    async def callback(request: Request) -> Response:
        with use_language(_language_of(request)):  # the refusals are read by a person
            return await finish(request)

    async def finish(request: Request) -> Response:
        address = request.client.host if request.client else None
        try:
            token = await oauth.sso.authorize_access_token(request)
        except OAuthError as exc:
            await runtime.accounts.audit("sso", "login.failed", None, {"error": exc.error}, address)
            return _page(401, _("the provider refused: {reason}").format(reason=exc.description or exc.error))
        claims = dict(token.get("userinfo") or {})
        subject = f"{claims.get('iss', settings.oidc_issuer)}|{claims.get('sub')}"
        name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub"))
        role = map_role(claims, settings)
        if role is None:
            await runtime.accounts.audit(
                name, "login.failed", None, {"via": "sso", "reason": "no role"}, address
            )
            return _page(403, _("{name} has no role in IAQverse; ask an administrator").format(name=name))
        try:
            principal = await asyncio.to_thread(runtime.accounts.sso_user, subject, name, role)
        except LoginRefused as exc:
            return _page(403, str(exc))
        storage = await session_storage(request.scope)
        if storage is None:
            return _page(500, _("sessions are not configured"))
        start_session(runtime, storage, request.session, principal)
        await runtime.accounts.audit(principal.name, "login", None, {"via": "sso", "role": role}, address)
        return RedirectResponse(safe_target(request.session.pop(_NEXT, "/")), status_code=303)

    return r
