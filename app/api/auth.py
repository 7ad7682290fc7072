"""`/api/auth/...`: sign-in for scripts and tests, one's own account and tokens, and (admin) users, device
keys and the audit log. Who may call what is decided centrally (app/auth/policy.py); handlers only read
the principal the middleware found. Single sign-on lives in app/api/oidc.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api import answers as A
from app.auth.middleware import SESSION_KEY, session_storage, start_session
from app.core.principal import Principal
from app.runtime import Runtime
from services.accounts import LoginRefused

from .common import HTTPProblem, ObjectId, read_object
from .schemas import KeyBody, LoginBody, TokenBody, UserBody, UserPatch, json_body

MAX_BYTES = 64 * 1024


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:  # the rules let no anonymous request reach these handlers; be sure anyway
        raise HTTPProblem(401, "sign in first")
    return principal


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def me(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "role": principal.role,
        "sites": sorted(principal.sites) if principal.sites is not None else None,
        "via": principal.via,
    }


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/auth", tags=["auth"])
    accounts, keys = runtime.accounts, runtime.device_keys

    @r.post("/login", openapi_extra=json_body(LoginBody), **A.answers(A.Me))
    async def login(request: Request) -> JSONResponse:
        """Body `{"name", "password"}`: signs the browser session in (as the login page does). 429 with
        `Retry-After` after repeated failures."""
        if not runtime.local_login_enabled:
            raise HTTPProblem(403, "local sign-in is switched off; use single sign-on")
        body = await read_object(request, MAX_BYTES)
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise HTTPProblem(422, "name, password: both must be text")
        try:
            principal = await accounts.sign_in(name, password, client_address(request))
        except LoginRefused as exc:
            if exc.retry_after_s:
                raise HTTPProblem(429, str(exc), {"Retry-After": str(exc.retry_after_s)}) from None
            raise HTTPProblem(401, str(exc)) from None
        storage = await session_storage(request.scope)
        if storage is None:
            raise HTTPProblem(500, "sessions are not configured (no storage secret)")
        start_session(runtime, storage, request.session, principal)
        return JSONResponse(me(principal))

    @r.post("/logout", **A.answers(A.SignedOut))
    async def logout(request: Request) -> dict[str, Any]:
        storage = await session_storage(request.scope)
        if storage is not None and storage.pop(SESSION_KEY, None) is not None:
            principal = getattr(request.state, "principal", None)
            await accounts.audit(
                principal.name if principal else "?", "logout", None, None, client_address(request)
            )
        return {"signed_out": True}

    @r.get("/me", **A.answers(A.Me))
    async def whoami(request: Request) -> dict[str, Any]:
        """The caller's name, role and sites."""
        return me(principal_of(request))

    @r.get("/tokens", **A.answers(list[A.Token]))
    async def list_tokens(request: Request) -> list[dict[str, Any]]:
        """The caller's personal access tokens (never their secrets)."""
        return [A.contract_json(t) for t in await accounts.list_tokens(principal_of(request))]

    @r.post("/tokens", status_code=201, **A.answers(A.Token, 201), openapi_extra=json_body(TokenBody))
    async def create_token(request: Request) -> dict[str, Any]:
        """Body `{"name": "...", "days": 90}` (days optional: no expiry). The answer holds the token, once."""
        made = await accounts.create_token(principal_of(request), await read_object(request, MAX_BYTES))
        return A.contract_json(made.info, token=made.secret)

    @r.delete("/tokens/{token_id}", **A.answers(A.Revoked))
    async def revoke_token(token_id: ObjectId, request: Request) -> dict[str, Any]:
        return {"revoked": await accounts.revoke_token(token_id, principal_of(request))}

    # A site-limited admin manages the accounts, tokens and keys limited to its sites, and nothing else
    # (services.accounts.check_manages); an unrestricted admin manages everything.
    @r.get("/users", **A.answers(list[A.User]))
    async def list_users(request: Request) -> list[dict[str, Any]]:
        """Accounts (for a site-limited admin: those limited to its sites)."""
        return [A.contract_json(u) for u in await accounts.list_users(principal_of(request))]

    @r.post("/users", status_code=201, **A.answers(A.User, 201), openapi_extra=json_body(UserBody))
    async def create_user(request: Request) -> dict[str, Any]:
        """Body `{"name", "role": "viewer|operator|admin", "password", "sites": [names] or null}`. A
        site-limited admin must give sites within its own."""
        who = principal_of(request)
        return A.contract_json(
            await accounts.create_user(await read_object(request, MAX_BYTES), who.name, who)
        )

    @r.patch("/users/{user_id}", **A.answers(A.User), openapi_extra=json_body(UserPatch))
    async def update_user(user_id: ObjectId, request: Request) -> dict[str, Any]:
        """Any of `role`, `sites`, `disabled`, `password`."""
        who = principal_of(request)
        changed = await accounts.update_user(user_id, await read_object(request, MAX_BYTES), who.name, who)
        return A.contract_json(changed)

    @r.delete("/users/{user_id}", **A.answers(A.DeletedUser))
    async def delete_user(user_id: ObjectId, request: Request) -> dict[str, Any]:
        who = principal_of(request)
        return {"deleted": await accounts.delete_user(user_id, who.name, who)}

    @r.get("/all-tokens", **A.answers(list[A.Token]))
    async def list_all_tokens(request: Request) -> list[dict[str, Any]]:
        """Every user's tokens (admin; a site-limited admin: those of the accounts it manages)."""
        return [A.contract_json(t) for t in await accounts.list_tokens(by=principal_of(request))]

    @r.get("/keys", **A.answers(list[A.DeviceKey]))
    async def list_keys(request: Request) -> list[dict[str, Any]]:
        """Device keys: site, name and the first characters only (a site-limited admin: its sites')."""
        return [A.contract_json(key) for key in await keys.list(principal_of(request))]

    @r.post("/keys", status_code=201, **A.answers(A.DeviceKey, 201), openapi_extra=json_body(KeyBody))
    async def create_key(request: Request) -> dict[str, Any]:
        """Body `{"site": "...", "name": "..."}`. The answer holds the key, once."""
        who = principal_of(request)
        made = await keys.create(await read_object(request, MAX_BYTES), who.name, who)
        return A.contract_json(made.info, key=made.secret)

    @r.delete("/keys/{key_id}", **A.answers(A.Revoked))
    async def revoke_key(key_id: ObjectId, request: Request) -> dict[str, Any]:
        who = principal_of(request)
        return {"revoked": await keys.revoke(key_id, who.name, who)}

    @r.get("/audit", **A.answers(list[A.AuditEvent]))
    async def audit_log(limit: int = 200) -> list[dict[str, Any]]:
        """The newest events first."""
        return [A.contract_json(e) for e in await accounts.audit_log(max(1, min(limit, 5000)))]

    return r
