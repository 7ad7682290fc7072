"""The platform's own words for the values of its data (metrics, levels, states, roles, module types), in
the page's language. The data keep their English keys; only what a person reads is translated, here, so
each word has one translation wherever it is shown."""

from __future__ import annotations

from app.core.domain.metrics import ALL_KNOWN
from app.core.domain.modules import KINDS
from app.core.i18n import C_, N_, _, term

# The metric names that are words or have a name of their own in a language (the others are formulas: CO₂,
# PM2.5, NO₂ ...).
_METRIC_WORDS = (N_("Temperature"), N_("Humidity"), N_("Pressure"), N_("Light"), N_("Noise"), N_("TVOC"))
_MODULE_KINDS = (N_("Ventilation"), N_("Air purifier"), N_("Window"), N_("Cooling"), N_("Heating"))
_TERMS = (
    C_("level", "excellent"), C_("level", "good"), C_("level", "moderate"), C_("level", "poor"),
    C_("level", "bad"), C_("level", "unknown"),
    C_("severity", "info"), C_("severity", "warning"), C_("severity", "critical"),
    C_("alert", "active"), C_("alert", "acknowledged"), C_("alert", "resolved"),
    C_("role", "viewer"), C_("role", "operator"), C_("role", "admin"),
    C_("model", "candidate"), C_("model", "active"), C_("model", "retired"),
    C_("action", _("switch on")), C_("action", _("switch off")), C_("action", "open"), C_("action", "close"),
    C_("action", _("set the level")), C_("action", _("set the temperature")),
    C_("action status", "pending"), C_("action status", "acknowledged"), C_("action status", "failed"),
    C_("action status", "superseded"), C_("action status", "proposed"), C_("action status", "confirmed"),
    C_("action status", "dismissed"), C_("action status", "reported"), C_("action status", "expired"),
    C_("direction", "above"), C_("direction", "below"),
    C_("training", "running"), C_("training", "promoted"), C_("training", "kept"), C_("training", "failed"),
    C_("trigger", "manual"), C_("trigger", "scheduled"), C_("trigger", "api"),
)  # fmt: skip


def metric_name(metric: str) -> str:
    """`Température` for `temperature`; a metric the platform does not know keeps its key."""
    info = ALL_KNOWN.get(metric)
    return _(info.label) if info else metric


def module_kind(kind: str) -> str:
    info = KINDS.get(kind)
    return _(info.label) if info else kind


def level(value: str) -> str:
    return term("level", value)


def severity(value: str) -> str:
    return term("severity", value)


def alert_state(value: str) -> str:
    return term("alert", value)


def role(value: str) -> str:
    return term("role", value)


def model_status(value: str) -> str:
    return term("model", value)


def action_status(value: str) -> str:
    return term("action status", value)


_AUDIT_ACTIONS = {  # what the services and the API write in the audit log, as people say it
    "request": N_("change through the API"),
    "login": N_("signed in"),
    "login.failed": N_("sign-in refused"),
    "login.throttled": N_("sign-in slowed down (too many failures)"),
    "key.create": N_("device key made"),
    "key.revoke": N_("device key revoked"),
    "token.create": N_("personal access token made"),
    "token.revoke": N_("personal access token revoked"),
    "user.create": N_("user created"),
    "user.update": N_("user changed"),
    "user.delete": N_("user deleted"),
}


def audit_action(action: str) -> str:
    """An audit log entry's action in the page's language (pages record theirs as marked English phrases)."""
    return _(_AUDIT_ACTIONS.get(action, action))


def rule_name(name: str) -> str:
    """A rule's (or its alert's) name: the default rules' names are translated, people's own are kept."""
    return _(name)
