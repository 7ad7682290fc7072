"""The one table of who may call what. Anything it does not open needs a signed-in principal (default deny);
the role comes from the first matching rule, else from the method: reading needs `viewer`, changing needs
`admin`. Endpoints added later are covered without touching this file; an exception (an operator action,
an open page) is one line here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

OPEN = "open"  # no principal needed
DEVICE = "device"  # device lane (app/api/lane.py): checked there with device keys, never reaches this table

READ_METHODS = frozenset({"GET", "HEAD"})
ALL = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Rule:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    need: str  # OPEN, DEVICE or a role
    site_neutral: bool = False  # a site-scoped principal may call it without naming a site


def _rule(methods: str, pattern: str, need: str, *, site_neutral: bool = False) -> Rule:
    chosen = ALL if methods == "*" else frozenset(methods.split(","))
    return Rule(chosen, re.compile(pattern + r"\Z"), need, site_neutral)


RULES: tuple[Rule, ...] = (
    # sign-in and what a browser needs before it (NiceGUI's static files and its socket, bound to a page
    # that was itself authorised; its per-client routes such as uploads are not open)
    _rule("GET,POST", r"/login", OPEN),
    _rule("GET,POST", r"/logout", OPEN),
    _rule("POST", r"/api/auth/login", OPEN),
    _rule("POST", r"/api/auth/logout", OPEN),
    _rule("GET", r"/auth/oidc/(login|callback)", OPEN),
    _rule("GET,HEAD", r"/health", OPEN),  # answers without details unless signed in (app/api/health.py)
    _rule("GET,HEAD", r"/favicon\.ico", OPEN),
    _rule("GET,HEAD", r"/static/.*", OPEN),
    _rule("GET,HEAD,POST", r"/_nicegui/(?!client/).*", OPEN),
    _rule("*", r"/_nicegui_ws/.*", OPEN),
    _rule("POST", r"/api/ingest|/iaq", DEVICE),
    # one's own account and tokens
    _rule("GET", r"/api/auth/me", "viewer", site_neutral=True),
    _rule("GET,POST", r"/api/auth/tokens", "viewer", site_neutral=True),
    _rule("DELETE", r"/api/auth/tokens/\d+", "viewer", site_neutral=True),
    # operators act on modules and alerts
    _rule("POST", r"/api/execute-action", "operator"),
    _rule("POST", r"/api/actions/\d+/(confirm|dismiss)", "operator"),  # automation's proposals
    _rule("POST", r"/api/alerts/\d+/(acknowledge|resolve)", "operator"),
    # administration reads too
    _rule("GET,HEAD", r"/api/auth/.*", "admin"),
    _rule("GET,HEAD", r"/settings(/.*)?", "admin"),
    _rule("GET,HEAD", r"/metrics", "admin"),
)

# A request names a site by these query parameters (the API's French name first).
SITE_PARAMETERS = ("enseigne", "site")


def requirement(method: str, path: str) -> Rule | str:
    """The matching rule, or the default role for the method."""
    for rule in RULES:
        if method in rule.methods and rule.pattern.match(path):
            return rule
    return "viewer" if method in READ_METHODS else "admin"


def named_sites(query_string: bytes) -> list[str]:
    """The sites a request names in its query string."""
    if not query_string:
        return []
    query = parse_qs(query_string.decode("latin-1"))
    return [value for name in SITE_PARAMETERS for value in query.get(name, [])]
