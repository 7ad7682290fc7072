"""What page actions share: a service call whose errors become a notification (and whose success is
audited), the wording of counts and errors, and the small buttons of lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from nicegui import app, ui

from app.core.domain.readings import FieldError, InvalidInput
from services.errors import Conflict, NotFound

from .access import page_principal

T = TypeVar("T")


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def describe(exc: Exception) -> str:
    """A service error as one line that names the fields."""
    if isinstance(exc, InvalidInput):
        text = "; ".join(f"{e.field}: {e.problem}" for e in exc.errors[:5])
        return text + (f" (and {len(exc.errors) - 5} more)" if len(exc.errors) > 5 else "")
    return str(exc)


async def attempt(
    what: str,
    action: Awaitable[T],
    *,
    on_invalid: Callable[[list[FieldError]], None] | None = None,
    audit: bool = True,
) -> T | None:
    """Await a service call; its errors become a notification. None when it failed. A change that succeeded
    is written to the audit log (`audit=False` for reads): page actions travel over the page's socket, not
    through the HTTP layer that audits the API."""
    try:
        result = await action
    except (InvalidInput, Conflict, NotFound) as exc:
        if isinstance(exc, InvalidInput) and on_invalid:
            on_invalid(exc.errors)
        ui.notify(f"{what}: {describe(exc)}", type="negative", multi_line=True, close_button=True)
        return None
    if audit:
        principal = page_principal()
        await app.state.runtime.accounts.audit(
            principal.name if principal else "?",
            "page",
            getattr(action, "__qualname__", type(action).__name__),
            None,
            ui.context.client.ip,
        )
    return result


def small_button(text: str, icon: str, on_click: Callable, marker: str, colour: str = "primary") -> ui.button:
    button = ui.button(text, icon=icon, on_click=on_click, color=colour)
    return button.props("flat dense no-caps").mark(marker)
