"""`/login` (local accounts and, when configured, single sign-on) and `/logout`, following NiceGUI's
session pattern: the signed-in user is kept in `app.storage.user`; the middleware (app/auth/middleware.py)
sends unauthenticated page requests here with `redirect_to`."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from app.auth.middleware import (
    SESSION_KEY,
    pend_session,
    safe_target,
    session_storage,
    start_session,
    take_pending,
)
from app.core.i18n import _, use_language
from app.core.principal import Principal
from components.access import page_in_language, page_language, page_principal
from components.frame import PRODUCT, set_sign_out
from services.accounts import LoginRefused

if TYPE_CHECKING:
    from app.runtime import Runtime


def register(runtime: Runtime) -> None:
    settings = runtime.settings

    @ui.page("/login")
    async def login_page(request: Request, redirect_to: str = "/") -> RedirectResponse | None:
        target = safe_target(redirect_to)
        if getattr(request.state, "principal", None) is not None:
            return RedirectResponse(target, status_code=303)
        page_in_language()
        ui.page_title(_("Sign in · {PRODUCT}").format(PRODUCT=PRODUCT))
        ui.colors(primary="#00695c")
        with ui.card().classes("absolute-center w-80 gap-3").mark("login-card"):
            with ui.row().classes("items-center gap-2"):
                ui.icon("air", size="28px", color="primary")
                ui.label(PRODUCT).classes("text-h6")
            if runtime.local_login_enabled:
                name = (
                    ui.input(_("User name"))
                    .props("autofocus autocomplete=username")
                    .classes("w-full")
                    .mark("name")
                )
                password = (
                    ui.input(_("Password"), password=True, password_toggle_button=True)
                    .props("autocomplete=current-password")
                    .classes("w-full")
                    .mark("password")
                )
                problem = ui.label().classes("text-negative text-caption").mark("login-problem")

                async def sign_in() -> None:
                    try:
                        with use_language(page_language()):  # why it is refused, in the page's language
                            principal = await runtime.accounts.sign_in(
                                name.value or "", password.value or "", ui.context.client.ip
                            )
                    except LoginRefused as exc:
                        problem.text = str(exc)
                        password.value = ""
                        return
                    # the socket cannot set the session cookie's binding: one HTTP round trip does
                    ticket = pend_session(runtime, app.storage.user, principal)
                    ui.navigate.to(f"/auth/session?ticket={ticket}&redirect_to={quote(target, safe='')}")

                password.on("keydown.enter", sign_in)
                ui.button(_("Sign in"), on_click=sign_in).classes("w-full").mark("sign-in")
            if settings.oidc_enabled:
                ui.button(
                    _("Sign in with single sign-on"),
                    icon="login",
                    on_click=lambda: ui.navigate.to(f"/auth/oidc/login?redirect_to={quote(target, safe='')}"),
                ).props("outline").classes("w-full").mark("sso")
        return None

    @app.get("/auth/session", include_in_schema=False)
    async def finish_sign_in(request: Request, ticket: str = "", redirect_to: str = "/") -> RedirectResponse:
        """The second half of a sign-in on the page: binds the session cookie (see `start_session`)."""
        storage = await session_storage(request.scope)
        principal = take_pending(runtime, storage, ticket) if storage is not None else None
        if principal is None:  # no such sign-in on this browser, used already, or too old
            return RedirectResponse(f"/login?redirect_to={quote(safe_target(redirect_to), safe='')}", 303)
        start_session(runtime, storage, request.session, principal)
        return RedirectResponse(safe_target(redirect_to), status_code=303)

    async def sign_out(storage, principal: Principal | None, address: str | None) -> None:
        if storage is not None and storage.pop(SESSION_KEY, None) is not None:
            await runtime.accounts.audit(principal.name if principal else "?", "logout", None, None, address)

    async def sign_out_page() -> None:
        """The account menu's "Sign out": over the page's socket, which another site cannot drive."""
        await sign_out(app.storage.user, page_principal(), ui.context.client.ip)
        ui.navigate.to("/login")

    set_sign_out(sign_out_page)

    @ui.page("/logout")
    async def logout_page(request: Request) -> RedirectResponse | None:
        if getattr(request.state, "principal", None) is None:
            return RedirectResponse("/login", status_code=303)
        page_in_language()
        ui.page_title(_("Sign out · {PRODUCT}").format(PRODUCT=PRODUCT))
        ui.colors(primary="#00695c")
        with ui.card().classes("absolute-center w-80 gap-3").mark("logout-card"):
            ui.label(_("Sign out of IAQverse?")).classes("text-h6")
            with ui.row().classes("gap-2"):
                ui.button(_("Sign out"), on_click=sign_out_page).mark("sign-out-confirm")
                ui.button(_("Back"), on_click=lambda: ui.navigate.to("/")).props("flat")
        return None

    # after the page: NiceGUI's page decorator replaces every route of its path
    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> RedirectResponse:
        """Sign out from a form (the refusal page's button); a cross-site POST is refused by the
        middleware. A GET never signs out: a link or an image on another site could."""
        await sign_out(
            await session_storage(request.scope),
            getattr(request.state, "principal", None),
            request.client.host if request.client else None,
        )
        return RedirectResponse("/login", status_code=303)
