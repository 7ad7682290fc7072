"""What page actions share: a service call whose errors become a notification (and whose success is
confirmed and audited), the wording of counts and errors, and the small buttons of lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from nicegui import app, ui

from app.core.domain.readings import FieldError, InvalidInput
from app.core.i18n import _, ngettext, number, use_language
from services.errors import Conflict, NotFound

from .access import page_language, page_principal

T = TypeVar("T")


def plural(n: int, word: str) -> str:
    """`3 rooms`, `1 reading`, in the page's language (with its digit grouping)."""
    forms = {
        "room": ngettext("{n} room", "{n} rooms", n),
        "reading": ngettext("{n} reading", "{n} readings", n),
        "site": ngettext("{n} site", "{n} sites", n),
        "sensor": ngettext("{n} sensor", "{n} sensors", n),
        "module": ngettext("{n} module", "{n} modules", n),
    }
    return forms[word].format(n=number(n, 0))


def describe(exc: Exception) -> str:
    """A service error as one line that names the fields."""
    if isinstance(exc, InvalidInput):
        text = "; ".join(f"{e.field}: {e.problem}" for e in exc.errors[:5])
        return text + (
            _(" (and {value} more)").format(value=len(exc.errors) - 5) if len(exc.errors) > 5 else ""
        )
    return str(exc)


async def attempt(
    what: str,
    action: Awaitable[T],
    *,
    done: str | Callable[[T], str] | None = None,
    audit: str | None = None,
    target: str | None = None,
    on_invalid: Callable[[list[FieldError]], None] | None = None,
) -> T | None:
    """Await a service call; its errors become a notification. None when it failed.

    `done` is the confirmation shown when it succeeded; `audit` names the change for the audit log (page
    actions travel over the page's socket, not through the HTTP layer that audits the API), with `target`
    what it was done to. Both are written in the page's own context, captured before the call: the call
    often refreshes the very part of the page whose button started it (an acknowledged alert leaves the
    list), and a notification from a deleted part would fail."""
    client = ui.context.client
    principal = page_principal()
    try:
        with use_language(page_language()):  # the service's messages (run in threads too) in the page's
            result = await action
    except (InvalidInput, Conflict, NotFound) as exc:
        with client.content:
            if isinstance(exc, InvalidInput) and on_invalid:
                on_invalid(exc.errors)
            ui.notify(f"{what}: {describe(exc)}", type="negative", multi_line=True, close_button=True)
        return None
    if audit:
        await _audit(principal, client.ip, audit, target)
    if done:
        with client.content:
            ui.notify(done(result) if callable(done) else done, type="positive")
    return result


async def audit(action: str, target: str | None = None) -> None:
    """Write a page action to the audit log now (for work that goes on in the background, like training)."""
    await _audit(page_principal(), ui.context.client.ip, action, target)


async def _audit(principal, address: str | None, action: str, target: str | None) -> None:
    actor = principal.name if principal else "?"
    await app.state.runtime.accounts.audit(actor, action, target, {"via": "page"}, address)


def small_button(text: str, icon: str, on_click: Callable, marker: str, colour: str = "primary") -> ui.button:
    button = ui.button(text, icon=icon, on_click=on_click, color=colour)
    return button.props("flat dense no-caps").mark(marker)
