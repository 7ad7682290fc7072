"""The shell every page shares: a header with the product name, the navigation and a connection hint,
then the page title and the content column.

Pages add themselves to the navigation with one call, e.g. in their `register`:
`add_nav_link("Alerts", "/alerts", icon="notifications")`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nicegui import app, ui

from app.core.i18n import LANGUAGES, N_, _
from app.core.principal import Principal

from .access import page_bus, page_in_language, page_principal

PRODUCT = "IAQverse"


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    path: str
    icon: str
    order: int
    role: str  # the least role that may open the page: others do not see the link


# A static list of entries (not runtime state): registering the same path again replaces its entry,
# so building the app twice (as the test fixture does) keeps one link per page.
_nav: dict[str, NavLink] = {}


def add_nav_link(
    label: str, path: str, *, icon: str = "chevron_right", order: int = 50, role: str = "viewer"
) -> None:
    """Show a page in the header navigation to those with `role`; lower `order` comes first (Dashboard 0,
    Settings 100)."""
    _nav[path] = NavLink(label, path, icon, order, role)


def nav_links() -> list[NavLink]:
    return sorted(_nav.values(), key=lambda link: (link.order, link.label))


_sign_out: list[Callable[[], Awaitable[None]]] = []  # set by pages.login: signs the page's session out


def set_sign_out(handler: Callable[[], Awaitable[None]]) -> None:
    """What the account menu's "Sign out" does (over the page's socket: signing out is never a GET)."""
    _sign_out[:] = [handler]


add_nav_link(N_("Dashboard"), "/", icon="dashboard", order=0)
add_nav_link(N_("Settings"), "/settings", icon="settings", order=100, role="admin")

# NiceGUI un-hides its `#popup` ("connection lost") while the socket is down: the hint follows it in pure CSS,
# so it works even when the server cannot reach the page any more.
_CSS = """
.iaq-offline { display: none; }
body:has(#popup[aria-hidden="false"]) .iaq-online { display: none; }
body:has(#popup[aria-hidden="false"]) .iaq-offline { display: inline-flex; }
.iaq-nav .q-btn { text-transform: none; }
.iaq-nav .iaq-active { background: rgba(255, 255, 255, 0.18); }
/* below 1280 px the links lose their icons: the French labels then fit from 1024 px */
@media (max-width: 1279.98px) { .iaq-nav .q-btn .q-icon { display: none; } }
"""


def connection_hint() -> None:
    """A small chip saying whether the page is live (updates arrive) or has lost its connection."""
    with ui.row().classes("items-center gap-1 text-caption iaq-online").mark("connection-live"):
        ui.icon("circle", size="10px", color="light-green-4")
        ui.label(_("live"))
    with ui.row().classes("items-center gap-1 text-caption iaq-offline"):
        ui.icon("circle", size="10px", color="orange-5")
        ui.label(_("reconnecting…"))


def account_menu(dark: ui.dark_mode) -> None:
    """The signed-in user's name, role and a sign-out entry (from the principal the page was served to)."""
    principal = page_principal()
    if principal is None:
        return
    with (
        ui.button(principal.name, icon="account_circle")
        .props("flat dense no-caps color=white")
        .mark("account"),
        ui.menu(),
    ):
        ui.menu_item(_("Role: {role}").format(role=principal.role)).props("disable")
        ui.menu_item(_("Dark mode on/off"), on_click=lambda: _toggle_dark(dark)).mark("dark-mode")
        if principal.user_id is not None:
            language_items(principal)
        ui.menu_item(_("Sign out"), on_click=_signing_out).mark("sign-out")


def language_items(principal: Principal) -> None:
    """The account's language: each language by its own name, and the browser's; kept with the account,
    so it follows the user to other browsers, and taken on the next page."""
    chosen = principal.language
    ui.separator()
    for code, name in [(None, _("Browser's language")), *LANGUAGES.items()]:
        mark = "✓ " if code == chosen else ""
        item = ui.menu_item(f"{mark}{name}", on_click=lambda c=code: _choose_language(principal, c))
        item.mark(f"language-{code or 'browser'}")


async def _choose_language(principal: Principal, code: str | None) -> None:
    runtime = app.state.runtime
    await runtime.accounts.set_language(principal.user_id, code)
    ui.navigate.reload()


def _browser_storage() -> dict | None:
    try:
        return app.storage.user
    except RuntimeError:  # a page built outside a request (the not-found page)
        return None


def _toggle_dark(dark: ui.dark_mode) -> None:
    """Dark mode for this browser, kept for its next pages (a phone at night, a control room's screen)."""
    dark.set_value(not dark.value)
    storage = _browser_storage()
    if storage is not None:
        storage["dark"] = dark.value


async def _signing_out() -> None:
    if _sign_out:
        await _sign_out[0]()
    else:
        ui.navigate.to("/logout")


def open_alerts_badge(principal: Principal | None) -> None:
    """The number of open alerts the account may see, on the Alerts link; follows alerts as they change."""
    runtime = getattr(app.state, "runtime", None)
    alerting = getattr(runtime, "alerting", None)
    if alerting is None or principal is None:
        return
    badge = ui.badge(color="negative").props("floating rounded").mark("nav-alert-count")

    def show(*_: object) -> None:
        count = alerting.open_total(principal.sites)
        badge.set_text(str(count))
        badge.set_visibility(count > 0)

    show()
    page_bus(runtime.bus).alerts.subscribe(show)
    page_bus(runtime.bus).config_changed.subscribe(show)  # a deleted room's alerts went with it


@contextmanager
def frame(title: str, *, section: str | None = None) -> Iterator[ui.column]:
    """Header, navigation and page title; yields the content column.

    `section` is the navigation path to highlight; by default the page's own route.
    """
    page_in_language()
    ui.page_title(f"{title} · {PRODUCT}")
    ui.colors(primary="#00695c", secondary="#26a69a", accent="#8e24aa")
    ui.add_css(_CSS)
    dark = ui.dark_mode((_browser_storage() or {}).get("dark", False))
    active = section if section is not None else ui.context.client.page.path
    principal = page_principal()
    with ui.header(elevated=True).classes("items-center gap-4 px-4 py-2"):
        with ui.link(target="/").classes("text-white no-underline row items-center gap-2"):
            ui.icon("air", size="28px")
            ui.label(PRODUCT).classes("text-h6")
        links = [link for link in nav_links() if principal is not None and principal.has_role(link.role)]
        with ui.row().classes("iaq-nav gap-1 no-wrap gt-sm"):  # wide screens: every page in the header
            for link in links:
                button = ui.button(
                    _(link.label), icon=link.icon, on_click=lambda p=link.path: ui.navigate.to(p)
                )
                button.props("flat dense color=white no-caps").mark(f"nav-{link.label.lower()}")
                if link.path == active:
                    button.classes("iaq-active")
                if link.path == "/alerts":
                    with button:
                        open_alerts_badge(principal)
        if links:  # phones: the pages in a menu
            menu_button = ui.button(icon="menu").props("flat dense color=white").classes("lt-md iaq-nav-menu")
            with menu_button.mark("nav-menu"), ui.menu():
                for link in links:
                    item = ui.menu_item(_(link.label), on_click=lambda p=link.path: ui.navigate.to(p))
                    item.mark(f"menu-{link.label.lower()}")
        ui.space()
        connection_hint()
        account_menu(dark)
    with ui.column().classes("w-full max-w-screen-2xl mx-auto p-4 gap-4") as content:  # wide screens used
        ui.label(title).classes("text-h5").mark("page-title")
        yield content
