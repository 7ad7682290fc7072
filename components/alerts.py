"""Alert pieces: an open alert's card, the history table, the rule form, and the dashboard's alert badge.

They take data (the API's dictionaries) and call back; the page does the service calls.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from nicegui import ui

from app.core.domain.alerts import RULE_METRICS, SEVERITIES
from app.core.domain.readings import FieldError
from app.core.i18n import N_, _, term

from .labels import alert_state, metric_name, rule_name, severity
from .tiles import format_age, format_value
from .times import local_time

SEVERITY_COLOURS = {"critical": "negative", "warning": "orange-8", "info": "blue-6"}
SEVERITY_ICONS = {"critical": "error", "warning": "warning", "info": "info"}


def metric_label(metric: str) -> str:
    if metric == "offline":
        return _("Sensor offline")
    return metric_name(metric)


def since(iso: str | None, zone: str | None = None) -> str:
    if not iso:
        return "—"
    ts = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return _("{format_age} ago ({local_time})").format(
        format_age=format_age(time.time() - ts.timestamp()), local_time=local_time(iso, zone)
    )


def value_text(alert: dict[str, Any]) -> str:
    if alert["metric"] == "offline":
        return _("silent for {format_age}").format(format_age=format_age(alert["value"] or 0)) + (
            _(" · sensor {value}").format(value=alert["sensor_id"]) if alert.get("sensor_id") else ""
        )
    word = term("direction", "above" if alert["direction"] == "above" else "below")
    value, threshold, peak = (format_value(alert["metric"], alert[k]) for k in ("value", "threshold", "peak"))
    return _("{value} ({word} {threshold}, peak {peak})").format(
        value=value, word=word, threshold=threshold, peak=peak
    )


SNOOZES = {60: N_("for 1 hour"), 240: N_("for 4 hours"), 1440: N_("for 24 hours"), 0: N_("end the snooze")}


def snoozed(alert: dict[str, Any]) -> bool:
    until = alert.get("snoozed_until")
    return bool(until) and datetime.fromisoformat(until.replace("Z", "+00:00")).timestamp() > time.time()


def alert_card(
    alert: dict[str, Any],
    *,
    on_acknowledge: Callable[[], Awaitable[None]] | None,
    on_resolve: Callable[[], Awaitable[None]] | None,
    on_snooze: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """An open alert: severity, room, value, since when, who acknowledged it; acknowledge and resolve (for
    those who may: without the handlers, no buttons)."""
    severity = alert["severity"]
    with ui.card().classes("w-full gap-1").mark(f"alert-{alert['id']}"):
        with ui.row().classes("w-full items-center gap-3 no-wrap"):
            ui.icon(SEVERITY_ICONS.get(severity, "info"), color=SEVERITY_COLOURS.get(severity), size="28px")
            ui.badge(severity, color=SEVERITY_COLOURS.get(severity)).mark("alert-severity")
            ui.label(rule_name(alert["rule"])).classes("text-subtitle1 text-weight-medium")
            ui.link(f"{alert['enseigne']} / {alert['salle']}", f"/rooms/{alert['room_id']}").mark(
                "alert-room"
            )
            ui.space()
            if alert["state"] == "active" and on_acknowledge is not None:
                ui.button(_("Acknowledge"), icon="done", on_click=on_acknowledge).props(
                    "flat dense no-caps"
                ).mark("acknowledge")
            if on_snooze is not None:
                with (
                    ui.button(_("Snooze"), icon="snooze").props("flat dense no-caps").mark("snooze"),
                    ui.menu(),
                ):
                    for minutes, label in SNOOZES.items():
                        ui.menu_item(_(label), on_click=lambda m=minutes: on_snooze(m)).mark(
                            f"snooze-{minutes}"
                        )
            if on_resolve is not None:
                ui.button(_("Resolve"), icon="task_alt", on_click=on_resolve, color="positive").props(
                    "flat dense no-caps"
                ).mark("resolve")
        ui.label(f"{metric_label(alert['metric'])}: {value_text(alert)}").mark("alert-value")
        details = [f"since {since(alert['raised_at'], alert.get('timezone'))}"]
        if snoozed(alert):
            details.append(
                _("snoozed until {local_time}").format(
                    local_time=local_time(alert["snoozed_until"], alert.get("timezone"))
                )
            )
        if alert["state"] == "acknowledged":
            details.append(_("acknowledged by {value}").format(value=alert["acknowledged_by"]))
            if alert["ack_comment"]:
                details.append(f"“{alert['ack_comment']}”")
        ui.label(" · ".join(details)).classes("text-caption text-grey-7").mark("alert-since")


HISTORY_COLUMNS = [
    {
        "name": "raised_at",
        "label": N_("Raised (local time)"),
        "field": "raised_at",
        "align": "left",
        "sortable": True,
    },
    {"name": "severity", "label": N_("Severity"), "field": "severity", "align": "left"},
    {"name": "rule", "label": N_("Rule"), "field": "rule", "align": "left"},
    {"name": "where", "label": N_("Room"), "field": "where", "align": "left"},
    {"name": "value", "label": N_("Value"), "field": "value", "align": "left"},
    {"name": "state", "label": N_("State"), "field": "state", "align": "left"},
    {"name": "resolved_at", "label": N_("Resolved (local time)"), "field": "resolved_at", "align": "left"},
    {"name": "by", "label": N_("By"), "field": "by", "align": "left"},
    {
        "name": "zone",
        "label": N_("Time zone"),
        "field": "zone",
        "align": "left",
    },  # rooms of several zones meet
]


def history_rows(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": a["id"],
            "raised_at": local_time(a["raised_at"], a.get("timezone"), zone_name=False),
            "severity": severity(a["severity"]),
            "rule": rule_name(a["rule"]),
            "where": f"{a['enseigne']} / {a['salle']}",
            "value": format_value(a["metric"], a["value"]) if a["metric"] != "offline" else a["sensor_id"],
            "state": alert_state(a["state"]),
            "resolved_at": local_time(a["resolved_at"], a.get("timezone"), zone_name=False),
            "by": a["resolved_by"]
            or (_("automatic") if a["state"] == "resolved" else a["acknowledged_by"] or ""),
            "zone": a.get("timezone") or "UTC",
        }
        for a in alerts
    ]


class RuleForm:
    """The fields of an alert rule; `show_errors` puts a service's field errors under the fields."""

    def __init__(self, rule: dict[str, Any], scopes: dict[str, str]) -> None:
        self.scopes = scopes
        scope = f"room:{rule['room_id']}" if rule.get("room_id") else f"site:{rule['site_id']}" if rule.get(
            "site_id"
        ) else "global"  # fmt: skip
        with ui.grid(columns=2).classes("w-full gap-x-4"):
            self.name = ui.input(_("Name"), value=rule.get("name", "")).mark("rule-name")
            self.metric = ui.select(
                {m: metric_label(m) for m in RULE_METRICS}, value=rule.get("metric", "co2"), label=_("Metric")
            ).mark("rule-metric")
            self.direction = ui.select(
                {"above": _("above the trigger"), "below": _("below the trigger")},
                value=rule.get("direction", "above"),
                label=_("Alert when the value is"),
            ).mark("rule-direction")
            self.severity = ui.select(
                list(SEVERITIES), value=rule.get("severity", "warning"), label=_("Severity")
            )
            self.severity.mark("rule-severity")
            self.trigger = ui.number(
                _("Trigger (offline: factor on the interval)"), value=rule.get("trigger")
            )
            self.trigger.mark("rule-trigger")
            self.reset = ui.number(_("Reset threshold"), value=rule.get("reset")).mark("rule-reset")
            self.duration = ui.number(_("Minimum duration (s)"), value=rule.get("duration_s", 0)).mark(
                "rule-duration"
            )
            self.cooldown = ui.number(_("Cooldown (s)"), value=rule.get("cooldown_s", 0)).mark(
                "rule-cooldown"
            )
            self.scope = ui.select(
                scopes, value=scope if scope in scopes else "global", label=_("Applies to")
            )
            self.scope.mark("rule-scope")
            with ui.column().classes("gap-0"):
                self.only_open = ui.checkbox(
                    _("Only during opening hours"), value=rule.get("only_open_hours", False)
                )
                self.enabled = ui.checkbox(_("Enabled"), value=rule.get("enabled", True)).mark("rule-enabled")
        self.fields = {
            "name": self.name, "metric": self.metric, "direction": self.direction, "severity": self.severity,
            "trigger": self.trigger, "reset": self.reset, "duration_s": self.duration,
            "cooldown_s": self.cooldown, "site_id": self.scope, "room_id": self.scope,
        }  # fmt: skip

    @property
    def value(self) -> dict[str, Any]:
        kind, _sep, ident = (self.scope.value or "global").partition(":")
        return {
            "name": self.name.value,
            "metric": self.metric.value,
            "direction": self.direction.value,
            "severity": self.severity.value,
            "trigger": self.trigger.value,
            "reset": self.reset.value,
            "duration_s": self.duration.value,
            "cooldown_s": self.cooldown.value,
            "site_id": int(ident) if kind == "site" else None,
            "room_id": int(ident) if kind == "room" else None,
            "only_open_hours": bool(self.only_open.value),
            "enabled": bool(self.enabled.value),
        }

    def show_errors(self, errors: list[FieldError]) -> None:
        for element in set(self.fields.values()):
            element.error = None
        for e in errors:
            element = self.fields.get(e.field)
            if element is not None:
                element.error = e.problem
