"""One ASGI layer in front of every page, API call and WebSocket (except the device lane, app/api/lane.py):
it finds the principal (bearer token, or the session of a signed-in browser), applies the rules of
`app.auth.policy` (default deny), refuses cross-site changes made with a session cookie and limits request
bodies. The security headers are added at the edge (app/auth/edge.py), for every answer.

Pure ASGI rather than `BaseHTTPMiddleware`: no task group per request. NiceGUI adds its session and
request-tracking layers outside this one when `ui.run` starts, so the session is decoded here already.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from app.core.i18n import _, from_accept_language, language, term, use_language
from app.core.principal import Principal

from .policy import DEVICE, FILTERED, OPEN, Rule, requirement

if TYPE_CHECKING:
    from app.runtime import Runtime

SESSION_KEY = "auth"  # in app.storage.user: {"user_id", "login_at", "seen_at", "binding"}
# In the signed session cookie: a secret set at sign-in that the server-side session must match, so a session
# cookie obtained before the sign-in (planted in a victim's browser: session fixation) is not signed in by it.
BINDING_KEY = "iaq_binding"
PENDING_KEY = "auth_pending"  # in app.storage.user: a page's sign-in waiting for its HTTP round trip
PENDING_TTL_S = 60.0
_TOUCH_EVERY_S = 60.0  # writing the session's last-seen time on every request would write a file each time
# answered in JSON, never redirected to sign in; /config: the original's config.json (app/api/original.py)
_API_PREFIXES = ("/api/", "/ws", "/health", "/metrics", "/docs", "/redoc", "/openapi.json", "/iaq", "/config")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_AUDITED_ELSEWHERE = ("/api/auth/", "/_nicegui")  # sign-in, users, keys and tokens write their own events
_SIGN_IN_PATHS = frozenset({"/login", "/logout", "/api/auth/login", "/api/auth/logout"})
_NO_ORIGIN = (
    "refused: a change made with a session cookie must say which page asked for it (the Origin header, which "
    "browsers send); scripts use a personal access token"
)


def bearer_secret(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of `Authorization: Bearer T`, or the password of `Authorization: Basic` (for tools that speak
    only Basic: any user name, the token as password)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _sep, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return credentials.strip() or None
            if scheme.lower() == "basic":
                try:
                    return (
                        base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2]
                        or None
                    )
                except (binascii.Error, UnicodeDecodeError):
                    return None
    return None


async def session_storage(scope: dict) -> Any:
    """NiceGUI's `app.storage.user` of the request's session (also for WebSockets, which NiceGUI's request
    tracking does not see), or None without a session."""
    from nicegui import app

    session = scope.get("session")
    session_id = session.get("id") if isinstance(session, dict) else None
    if not session_id:
        return None
    storage = app.storage._users.get(session_id)
    if storage is None:
        await app.storage._create_user_storage(session_id)
        storage = app.storage._users[session_id]
    return storage


class AuthMiddleware:
    def __init__(self, app, runtime: Runtime):
        self.app, self.runtime = app, runtime
        settings = runtime.settings
        self.max_body = max(settings.max_body_bytes, settings.max_glb_bytes) + 64 * 1024
        self.allowed_origins = frozenset(settings.cors_origins)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        method = scope["method"] if kind == "http" else "GET"
        path = scope["path"]
        rule = requirement(method, path)
        need = rule.need if isinstance(rule, Rule) else rule
        principal = await self.principal(scope)
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["language"] = (principal.language if principal is not None else None) or from_accept_language(
            _header(scope, b"accept-language")
        )  # None: the deployment's (IAQ_LANGUAGE); pages read it (app.core.i18n)
        if kind == "http" and method in _BODY_METHODS:
            declared = _header(scope, b"content-length")
            if declared and declared.isdigit() and int(declared) > self.max_body:
                return await _deny_json(send, 413, f"body exceeds the limit of {self.max_body} bytes")
            receive = _limited(receive, self.max_body)
        cross_site = self.cross_site(scope, method, principal, path)
        if cross_site:
            if kind == "websocket":
                return await send({"type": "websocket.close", "code": 1008, "reason": cross_site})
            return await _deny_json(send, 403, cross_site)
        if need in (OPEN, DEVICE):
            return await self.app(scope, receive, send)
        if principal is None:
            if kind == "websocket":
                return await send(
                    {"type": "websocket.close", "code": 1008, "reason": "sign in or send a token"}
                )
            if path.startswith(_API_PREFIXES) or method not in ("GET", "HEAD"):
                return await _deny_json(
                    send,
                    401,
                    "sign in, or send a personal access token as 'Authorization: Bearer TOKEN'",
                    [(b"www-authenticate", b'Bearer realm="iaqverse"')],
                )
            target = path + (
                "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            )
            return await _redirect(send, "/login?redirect_to=" + quote(target, safe=""))
        problem = self.forbidden(principal, need, rule, path, scope)
        if problem:
            if kind == "websocket":
                return await send({"type": "websocket.close", "code": 1008, "reason": problem})
            if path.startswith(_API_PREFIXES):
                return await _deny_json(send, 403, problem)
            with use_language(state["language"]):  # a page: told to a person, in the page's language
                return await _deny_page(send, self.forbidden(principal, need, rule, path, scope) or problem)
        if kind == "http" and method in _AUDITED_METHODS and not path.startswith(_AUDITED_ELSEWHERE):
            return await self._audited(scope, receive, send, principal)
        return await self.app(scope, receive, send)

    async def _audited(self, scope, receive, send, principal: Principal) -> None:
        """Every change made through the API lands in the audit log, whichever router made it; written
        before the answer goes out, so a change the client saw acknowledged is always in the log."""

        async def recording(message):
            if message["type"] == "http.response.start" and message["status"] < 400:
                client = scope.get("client")
                await self.runtime.accounts.audit(
                    principal.name,
                    "request",
                    f"{scope['method']} {scope['path']}"[:256],
                    {"status": message["status"]},
                    client[0] if client else None,
                )
            await send(message)

        await self.app(scope, receive, recording)

    def cross_site(self, scope: dict, method: str, principal: Principal | None, path: str) -> str | None:
        """Why a request is refused as a cross-site request forgery, or None. A browser sends its session
        cookie to this site whichever site's page makes the request; its `Origin` (or `Referer`) says which
        page it was. Changes made with a session cookie need one of this site (or of IAQ_CORS_ORIGINS), as do
        sign-in and sign-out from a browser; a socket opened with the cookie must not come from elsewhere.
        Bearer tokens and device keys are not sent by browsers on their own: not affected."""
        session = principal is not None and principal.via == "session"
        signing = path in _SIGN_IN_PATHS and method == "POST"
        if scope["type"] == "websocket":
            if not session:
                return None
            origin = _header(scope, b"origin")
            if origin is None or self._our_origin(scope, origin):
                return None
            return "this socket was opened from another site's page"
        if method not in _AUDITED_METHODS or not (session or signing):
            return None
        origin = _header(scope, b"origin") or _referer_origin(_header(scope, b"referer"))
        if origin is None:
            # a script signing in sends neither; a browser always sends Origin with such a request
            return None if signing and not session else _NO_ORIGIN
        if self._our_origin(scope, origin):
            return None
        return f"refused: a change requested from another site's page ({origin[:100]})"

    def _our_origin(self, scope: dict, origin: str) -> bool:
        if origin in self.allowed_origins:
            return True
        host = _header(scope, b"host")
        return host is not None and origin.partition("://")[2].lower() == host.lower()

    @staticmethod
    def forbidden(principal: Principal, need: str, rule: Rule | str, path: str, scope: dict) -> str | None:
        if not principal.has_role(need):
            return _("this needs the role {need}; {name} is {role}").format(
                need=term("role", need), name=principal.name, role=term("role", principal.role)
            )
        if not principal.scoped:
            return None
        # a site-limited principal: only what the rules open to it (policy.FILTERED)
        if isinstance(rule, Rule) and rule.for_scoped == FILTERED:
            return None
        allowed = ", ".join(sorted(principal.sites or ()))
        return _(
            "{name} may see only the sites {allowed}; {path} concerns every site and is open to unrestricted "
            "accounts only"
        ).format(name=principal.name, allowed=allowed, path=path)

    async def principal(self, scope: dict) -> Principal | None:
        accounts = self.runtime.accounts
        await accounts.fresh()
        secret = bearer_secret(scope["headers"])
        if secret is not None:
            return await accounts.principal_for_token(secret)
        storage = await session_storage(scope)
        if storage is None:
            return None
        return session_principal(self.runtime, storage, scope.get("session"))


def session_principal(runtime: Runtime, storage: Any, cookie: Any) -> Principal | None:
    """The principal of a signed-in session, or None; an expired session is signed out here. `cookie` is the
    decoded session cookie: it must carry the binding set at sign-in (a copy of the cookie taken before the
    sign-in is not signed in, but does not sign the browser that has the new one out either)."""
    data = storage.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    binding = cookie.get(BINDING_KEY) if isinstance(cookie, dict) else None
    if not isinstance(binding, str) or not hmac.compare_digest(binding, str(data.get("binding", ""))):
        return None
    settings, now = runtime.settings, runtime.accounts.clock()
    login_at, seen_at = data.get("login_at", 0), data.get("seen_at", 0)
    if now - login_at > settings.session_max_s or now - seen_at > settings.session_idle_s:
        storage.pop(SESSION_KEY, None)
        return None
    principal = runtime.accounts.principal_for_user(data.get("user_id"))
    if principal is None:
        storage.pop(SESSION_KEY, None)
        return None
    if now - seen_at > _TOUCH_EVERY_S:
        storage[SESSION_KEY] = {**data, "seen_at": now}
    return principal


def safe_target(target: str | None) -> str:
    """A path of this site to go to after sign-in: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def start_session(runtime: Runtime, storage: Any, cookie: dict, principal: Principal) -> None:
    """Sign a browser session in: the server-side record, and a new binding in the session cookie (`cookie`
    is the request's decoded session, written back with the response)."""
    now = runtime.accounts.clock()
    binding = secrets.token_urlsafe(24)
    cookie[BINDING_KEY] = binding
    storage.pop(PENDING_KEY, None)
    storage[SESSION_KEY] = {"user_id": principal.user_id, "login_at": now, "seen_at": now, "binding": binding}


def pend_session(runtime: Runtime, storage: Any, principal: Principal) -> str:
    """A sign-in made over a page's socket, which cannot set a cookie: a one-time ticket that
    `GET /auth/session` turns into a signed-in session (`start_session`) within `PENDING_TTL_S`."""
    ticket = secrets.token_urlsafe(24)
    storage[PENDING_KEY] = {"user_id": principal.user_id, "ticket": ticket, "at": runtime.accounts.clock()}
    return ticket


def take_pending(runtime: Runtime, storage: Any, ticket: str) -> Principal | None:
    """The principal of a pending sign-in of this session with this ticket (used once), or None."""
    pending = storage.pop(PENDING_KEY, None)
    if not isinstance(pending, dict) or not hmac.compare_digest(str(pending.get("ticket", "")), ticket):
        return None
    if runtime.accounts.clock() - float(pending.get("at", 0)) > PENDING_TTL_S:
        return None
    return runtime.accounts.principal_for_user(pending.get("user_id"))


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of a URL."""
    if not url:
        return None
    scheme, _sep, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _referer_origin(referer: str | None) -> str | None:
    return origin_of(referer) if referer and "://" in referer else None


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class BodyTooLarge(Exception):
    """A body past the limit while it was being read (answered 413 by the API's error handling)."""


def _limited(receive, max_bytes: int):
    seen = 0

    async def receiving():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > max_bytes:
            raise BodyTooLarge(f"body exceeds the limit of {max_bytes} bytes")
        return message

    return receiving


async def _deny_json(send, status: int, message: str, headers: list | None = None) -> None:
    body = orjson.dumps({"error": message})
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _deny_page(send, problem: str) -> None:
    """A page the account may not open: why, in the platform's colours, with the ways on (the page itself
    is never built, so it cannot use the NiceGUI frame)."""
    from html import escape

    texts = {
        "title": _("Not for this account"),
        "heading": _("This page is not for your account"),
        "who": _("An administrator can change your role or your sites in Settings."),
        "home": _("Go to the dashboard"),
        "other": _("Sign in as someone else"),
    }
    title, heading, who, home, other = (escape(text) for text in texts.values())
    body = (
        f"<!doctype html><html lang='{language()}'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title} · IAQverse</title>"
        "<body style='margin:0;font-family:Roboto,system-ui,sans-serif;color:#263238'>"
        "<header style='background:#00695c;color:#fff;padding:12px 16px;font-size:20px'>IAQverse</header>"
        "<main style='max-width:40rem;margin:2rem auto;padding:0 16px'>"
        f"<h1 style='font-weight:400'>{heading}</h1>"
        f"<p>{escape(problem[:1].upper() + problem[1:])}.</p>"
        f"<p>{who}</p>"
        f"<p><a href='/' style='color:#00695c'>{home}</a></p>"
        "<form method='post' action='/logout'><button type='submit' style='padding:6px 12px'>"
        f"{other}</button></form></main></body></html>"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
