"""French and English (and whatever `locales/` holds): the messages people read, and the formats of their
dates
and numbers.

Messages are written in English in the code, inside `_()` (or `ngettext` for a count, `N_` to mark a text that
is translated later, where it is shown); `make translations` extracts them into `locales/messages.pot` and
updates each language's `locales/<lang>/LC_MESSAGES/messages.po`. The `.po` files are the only form kept in
the repository: they are compiled in memory the first time a language is used.

The language of a message is, in order: the one set for the current task (`use_language`, e.g. a report made
for an account), the one a resolver finds (the pages register one that reads the page's request), else the
deployment's default (`IAQ_LANGUAGE`, English unless set).

Adding a language: its `.po` file (`make translations LANG=de` creates it from the template) and one line in
`LANGUAGES` below.
"""

from __future__ import annotations

import contextlib
import gettext
import io
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path

LANGUAGES: dict[str, str] = {  # code: the language's own name, as the account menu offers it
    "en": "English",
    "fr": "Français",
}
SOURCE_LANGUAGE = "en"  # the code's messages are written in it: it needs no catalogue
LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
DOMAIN = "messages"

_default = [SOURCE_LANGUAGE]
_current: ContextVar[str | None] = ContextVar("iaq_language", default=None)
_resolvers: list[Callable[[], str | None]] = []
_catalogues: dict[str, gettext.NullTranslations] = {}
_lock = threading.Lock()


def set_default_language(language: str | None) -> None:
    """The deployment's language (IAQ_LANGUAGE): for what no account asked for (e-mails, the API's CSV)."""
    _default[0] = supported(language) or SOURCE_LANGUAGE


def default_language() -> str:
    return _default[0]


def supported(language: str | None) -> str | None:
    """`language` (a code such as `fr`, `fr-CA` or `fr_FR`) as one of LANGUAGES, or None."""
    if not language:
        return None
    code = language.replace("_", "-").split("-")[0].strip().lower()
    return code if code in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The first language of an HTTP `Accept-Language` header we speak (weights respected), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            with contextlib.suppress(ValueError):
                weight = float(params.strip()[2:])
        code = supported(tag)
        if code is not None and weight > 0:
            ranked.append((-weight, position, code))
    return min(ranked)[2] if ranked else None


def add_resolver(resolver: Callable[[], str | None]) -> None:
    """A way to find the current language where no task set one (the pages: their request's language)."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def language() -> str:
    chosen = _current.get()
    if chosen is not None:
        return chosen
    for resolver in _resolvers:
        found = resolver()
        if found is not None:
            return found
    return _default[0]


@contextlib.contextmanager
def use_language(code: str | None) -> Iterator[str]:
    """Messages and formats in `code` (a supported language, else the default) for the block."""
    chosen = supported(code) or _default[0]
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def catalogue(code: str) -> gettext.NullTranslations:
    """The language's messages, compiled from its `.po` file at first use (English: the code's own)."""
    found = _catalogues.get(code)
    if found is not None:
        return found
    with _lock:
        if code not in _catalogues:
            _catalogues[code] = _compile(code)
        return _catalogues[code]


def _compile(code: str) -> gettext.NullTranslations:
    po = LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if code == SOURCE_LANGUAGE or not po.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo  # only when a translated language is first used
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        messages = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """`message` in the current language."""
    return catalogue(language()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a message for `count` in the current language (`{n}` in it is for the caller to fill)."""
    return catalogue(language()).ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks `message` for extraction; it is translated where it is shown, with `_(text)`."""
    return message


# -- formats
# ---------------------------------------------------------------------------------------------------
def number(value: float, digits: int = 1, *, fixed: bool = True, grouped: bool = True) -> str:
    """`3.5` in English, `3,5` in French: a measured value with `digits` decimals (at most `digits`, without
    trailing zeros, unless `fixed`), grouped by thousands unless not `grouped`."""
    from babel.numbers import format_decimal

    pattern = ("#,##0" if grouped else "0") + ("." + ("0" if fixed else "#") * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=language())


def measure(value: float, digits: int = 1, *, fixed: bool = True) -> str:
    """A measured value as the SI writes it in every language: thousands grouped by a thin space, the
    language's decimal sign (`1 220.5` in English, `1 220,5` in French)."""
    from babel.numbers import get_group_symbol

    return number(value, digits, fixed=fixed).replace(get_group_symbol(language()), "\u202f")


def date_time(moment: datetime, *, seconds: bool = False) -> str:
    """`24 Feb 2026, 14:05` / `24 févr. 2026 14:05`: a moment as the language writes it (in the moment's own
    zone: convert first)."""
    from babel.dates import format_datetime

    time_part = "HH:mm:ss" if seconds else "HH:mm"
    return format_datetime(moment, f"d MMM y {time_part}", locale=language())


def date(moment: datetime) -> str:
    from babel.dates import format_date

    return format_date(moment, "d MMM y", locale=language())


def C_(context: str, message: str) -> str:
    """Marks `message`, meant in `context`, for extraction (e.g. an alert's state "open" against a window's);
    `term(context, message)` translates it where it is shown."""
    return message


def term(context: str, message: str) -> str:
    """A value of the data (a state, a role, a level) as the current language names it; itself when "
    "unknown."""
    return catalogue(language()).pgettext(context, message)


def table_columns(columns: list[dict]) -> list[dict]:
    """A table's column definitions with their `label`s (marked with `N_`) in the current language."""
    translated = []
    for column in columns:
        label = column["label"]
        translated.append({**column, "label": _(label)})
    return translated
