"""The one table of who may call what. Anything it does not open needs a signed-in principal (default deny);
the role comes from the first matching rule, else from the method: reading needs `viewer`, changing needs
`admin`. Endpoints added later are covered without touching this file; an exception (an operator action,
an open page) is one line here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPEN = "open"  # no principal needed
DEVICE = "device"  # device lane (app/api/lane.py): checked there with device keys, never reaches this table

# What a site-limited principal may call (Rule.for_scoped); anything else is refused to it: an endpoint that
# does not limit itself to the principal's sites would show or change other sites (deny by default).
# FILTERED: the endpoint limits itself to the principal's sites (API handlers: the Selection of
# services/scope.py through app.api.common.Reach; pages: components.access.page_sites; /ws:
# services.scope.ScopedBus), or concerns no site (one's own account)
FILTERED = "filtered"

READ_METHODS = frozenset({"GET", "HEAD"})
ALL = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Rule:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    need: str  # OPEN, DEVICE or a role
    for_scoped: str | None = None  # FILTERED, or None: refused to site-limited principals

    @property
    def site_neutral(self) -> bool:
        return self.for_scoped == FILTERED


def _rule(
    methods: str, pattern: str, need: str, *, site_neutral: bool = False, for_scoped: str | None = None
) -> Rule:
    """`site_neutral=True` is the same as `for_scoped=FILTERED`."""
    chosen = ALL if methods == "*" else frozenset(methods.split(","))
    return Rule(chosen, re.compile(f"(?:{pattern})\\Z"), need, FILTERED if site_neutral else for_scoped)


RULES: tuple[Rule, ...] = (
    # sign-in and what a browser needs before it (NiceGUI's static files and its socket, bound to a page
    # that was itself authorised; its per-client routes such as uploads are not open)
    _rule("GET,POST", r"/login", OPEN),
    _rule("GET,POST", r"/logout", OPEN),
    _rule("POST", r"/api/auth/login", OPEN),
    _rule("POST", r"/api/auth/logout", OPEN),
    _rule("GET", r"/auth/oidc/(login|callback)", OPEN),
    _rule("GET", r"/auth/session", OPEN),  # the end of a sign-in on the page (pages/login.py)
    _rule(
        "GET,HEAD", r"/health(/ready)?", OPEN
    ),  # answers without details unless signed in (app/api/health.py)
    _rule("GET,HEAD", r"/favicon\.ico", OPEN),
    _rule("GET,HEAD", r"/static/.*", OPEN),
    _rule("GET,HEAD,POST", r"/_nicegui/(?!client/).*", OPEN),
    _rule("*", r"/_nicegui_ws/.*", OPEN),
    _rule("POST", r"/api/ingest|/iaq|/api/iaq", DEVICE),  # /api/iaq: where the original's code served /iaq
    # one's own account and tokens
    _rule("GET", r"/api/auth/me", "viewer", site_neutral=True),
    _rule("GET,POST", r"/api/auth/tokens", "viewer", site_neutral=True),
    _rule("DELETE", r"/api/auth/tokens/\d+", "viewer", site_neutral=True),
    # operators act on modules and alerts
    _rule("POST", r"/api/execute-action", "operator", for_scoped=FILTERED),  # checks the body's site
    # automation's proposals and alerts, by id: the handlers check the object's site
    _rule("POST", r"/api/actions/\d+/(confirm|dismiss)", "operator", for_scoped=FILTERED),
    _rule("POST", r"/api/alerts/\d+/(acknowledge|resolve|snooze)", "operator", for_scoped=FILTERED),
    # accounts, tokens and device keys: a site-limited admin manages those of its sites (the services check
    # every object: services.accounts.check_manages); the audit log and the rest concern every site
    _rule("GET,HEAD,POST", r"/api/auth/(users|keys|all-tokens)", "admin", for_scoped=FILTERED),
    _rule("PATCH,DELETE", r"/api/auth/users/\d+", "admin", for_scoped=FILTERED),
    _rule("DELETE", r"/api/auth/keys/\d+", "admin", for_scoped=FILTERED),
    # administration reads too
    _rule("GET,HEAD", r"/api/auth/.*", "admin"),
    _rule("GET,HEAD", r"/settings(/.*)?", "admin"),
    _rule("GET,HEAD", r"/metrics", "admin"),
    # what site-limited accounts may use (docs/security.md, "Sites"). Pages listed here show only the
    # principal's sites and check its site for each action; a page added later stays refused to them
    # until it does the same and is listed here.
    _rule(
        "GET,HEAD",
        r"/|/rooms/\d+|/alerts|/compare|/reports|/modules|/models|/twin(/\d+)?",
        "viewer",
        for_scoped=FILTERED,
    ),
    _rule("GET", r"/ws", "viewer", for_scoped=FILTERED),  # app/api/ws.py limits every client to its sites
    _rule(
        "GET,HEAD",
        r"/api/(v2/)?iaq/data|/api/alerts(/\d+)?|/api/room-modules|/api/modules/states|/api/modules/\d+/state-history"
        r"|/api/actions|/api/air-change-rates|/api/automation"
        r"|/api/predict/(score|score/history|forecast|preventive-actions)|/api/reports/compliance"
        r"|/config|/api/locations|/api/sensors-config|/api/ingest/stats",  # app/api/original.py
        "viewer",
        for_scoped=FILTERED,
    ),
    _rule("PUT", r"/api/automation", "admin", for_scoped=FILTERED),
)


def requirement(method: str, path: str) -> Rule | str:
    """The matching rule, or the default role for the method."""
    for rule in RULES:
        if method in rule.methods and rule.pattern.match(path):
            return rule
    return "viewer" if method in READ_METHODS else "admin"
