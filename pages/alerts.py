"""`/alerts`: open alerts first (acknowledge, resolve), the history with filters, and the rule editor.

The page follows `bus.alerts`: an alert raised, acknowledged or resolved anywhere (the worker, the REST API,
another tab) refreshes the open alerts and the history in place.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from nicegui import ui

from app.core.domain.alerts import Rule, replaced_rules
from app.core.i18n import C_, N_, _, number, table_columns, term
from components.access import page_actor, page_allows, page_bus, page_sites
from components.actions import attempt, small_button
from components.alerts import (
    HISTORY_COLUMNS,
    SEVERITY_COLOURS,
    SNOOZES,
    RuleForm,
    alert_card,
    history_rows,
    metric_label,
    snoozed,
)
from components.dialogs import confirm
from components.frame import add_nav_link, frame
from components.labels import rule_name, severity
from components.refresh import Coalesced
from components.tiles import format_value
from services.errors import NotFound
from services.scope import OutOfScope, keep

if TYPE_CHECKING:
    from app.runtime import Runtime

SINCE = {
    "24h": (N_("last 24 h"), 24),
    "7d": (N_("last 7 days"), 168),
    "30d": (N_("last 30 days"), 720),
    "all": (N_("all"), None),
}
STATES = {
    "all": N_("all states"),
    "active": C_("alert", "active"),
    "acknowledged": C_("alert", "acknowledged"),
    "resolved": C_("alert", "resolved"),
}


def register(runtime: Runtime) -> None:
    add_nav_link(N_("Alerts"), "/alerts", icon="notifications", order=20)

    @ui.page("/alerts")
    async def alerts_page() -> None:
        with frame(_("Alerts")):
            await AlertsPage(runtime).start()


def rule_condition(rule: dict[str, Any]) -> str:
    """`above 1 220 ppm for 5 min; resolves below 1 120 ppm; cooldown 15 min`"""
    if rule["metric"] == "offline":
        return _("silent for more than {factor} × the sensor's usual interval").format(
            factor=number(rule["trigger"], 1, fixed=False)
        )
    metric, word = rule["metric"], rule["direction"]
    back = "below" if word == "above" else "above"
    parts = [f"{term('direction', word)} {format_value(metric, rule['trigger'])}"]
    if rule["duration_s"]:
        parts[0] += _(" for {minutes} min").format(minutes=number(rule["duration_s"] / 60, 1, fixed=False))
    parts.append(
        _("resolves {direction} {value}").format(
            direction=term("direction", back), value=format_value(metric, rule["reset"])
        )
    )
    if rule["cooldown_s"]:
        parts.append(
            _("cooldown {minutes} min").format(minutes=number(rule["cooldown_s"] / 60, 1, fixed=False))
        )
    if rule["only_open_hours"]:
        parts.append(_("opening hours only"))
    return "; ".join(parts)


def _as_rule(row: dict[str, Any]) -> Rule:
    return Rule(**{f.name: row[f.name] for f in fields(Rule)})


def _rule_scope(rule: dict[str, Any]) -> str:
    if rule["room_id"]:
        return f"room:{rule['room_id']}"
    return f"site:{rule['site_id']}" if rule["site_id"] else "global"


class AlertsPage:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.alerting = runtime, runtime.alerting
        self.reload = Coalesced(self._reload)
        self.scopes: dict[str, str] = {"global": _("all rooms")}
        self.site_of_room: dict[int, int] = {}
        self.sites = page_sites()  # a site-limited account sees its sites' alerts and rules only

    async def start(self) -> None:
        await self._load_scopes()
        ui.label(_("Open alerts")).classes("text-h6")
        self.open_view(await self._alerts(state="open"))
        ui.label(_("History")).classes("text-h6 q-mt-md")
        with ui.row().classes("items-end gap-4"):
            self.state = ui.select(
                {k: _(v) if k == "all" else term("alert", v) for k, v in STATES.items()},
                value="all",
                label=_("State"),
                on_change=self.load_history,
            )
            self.state.classes("min-w-[10rem]").mark("filter-state")
            sites = {"": _("all sites"), **{s: s for s in self.site_names}}
            self.site = ui.select(sites, value="", label=_("Site"), on_change=self.load_history).classes(
                "min-w-[12rem]"
            )
            self.site.mark("filter-site")
            self.room = (
                ui.input(_("Room"), on_change=self.load_history).props("clearable").mark("filter-room")
            )
            self.since = ui.select({k: _(v[0]) for k, v in SINCE.items()}, value="7d", label=_("Raised"))
            self.since.on_value_change(self.load_history)
            self.since.mark("filter-since")
        self.history = ui.table(columns=table_columns(HISTORY_COLUMNS), rows=[], row_key="id", pagination=20)
        no_match = _("No alert matches these filters.")
        self.history.props(f'no-data-label="{no_match}"')
        self.history.classes("w-full").mark("history")
        await self.load_history()
        with ui.row().classes("items-center gap-2 q-mt-md"):
            ui.label(_("Rules")).classes("text-h6")
            if page_allows("admin", quiet=True):
                small_button(_("New rule"), "add", lambda: self.edit_rule(None), "new-rule")
        self.rules_view(await self._rules())
        bus = page_bus(self.runtime.bus)
        bus.alerts.subscribe(self.reload)
        bus.config_changed.subscribe(self._config_changed)

    async def _config_changed(self) -> None:
        """New names for the scopes; and a deleted room's alerts went with it."""
        await self._load_scopes()
        await self.reload()

    async def _load_scopes(self) -> None:
        sites = keep(self.sites, await self.runtime.config.list_sites())
        self.site_names = [site["name"] for site in sites]
        self.scopes = {"global": _("all rooms")}
        for site in sites:
            self.scopes[f"site:{site['id']}"] = f"site {site['name']}"
            self.scopes.update({f"room:{r['id']}": f"{site['name']} / {r['name']}" for r in site["rooms"]})
            self.site_of_room.update({r["id"]: site["id"] for r in site["rooms"]})

    async def _reload(self) -> None:
        self.open_view.refresh(await self._alerts(state="open"))
        await self.load_history()

    async def _alerts(
        self, *, site: str | None = None, room: str | None = None, **query: Any
    ) -> list[dict[str, Any]]:
        """Alerts of the rooms the filters name, within the account's sites (services.scope)."""
        try:
            selection = await asyncio.to_thread(self.runtime.scope.resolve, self.sites, site=site, room=room)
        except (NotFound, OutOfScope):
            return []  # a room typed in the filter that does not exist (in the account's sites)
        return await self.alerting.list_alerts(selection, **query)

    async def _rules(self) -> list[dict[str, Any]]:
        """Every rule, or for a site-limited account the global ones and those of its sites and rooms."""
        rules = await self.alerting.list_rules()
        if self.sites is None:
            return rules
        return [r for r in rules if _rule_scope(r) in self.scopes]

    # -- open alerts
    @ui.refreshable_method
    def open_view(self, alerts: list[dict[str, Any]]) -> None:
        alerts = sorted(alerts, key=snoozed)  # put aside: after those that need someone (stable otherwise)
        if not alerts:
            ui.label(_("No open alerts.")).classes("text-grey-7").mark("no-open-alerts")
        for alert in alerts:
            may = page_allows("operator", site=alert["enseigne"], quiet=True)
            alert_card(
                alert,
                on_acknowledge=(lambda a=alert: self.acknowledge(a)) if may else None,
                on_resolve=(lambda a=alert: self.resolve(a)) if may else None,
                on_snooze=(lambda minutes, a=alert: self.snooze(a, minutes)) if may else None,
            )

    async def _ask(self, title: str, message: str, action: str, marker: str) -> str | None:
        """An optional comment (the signed-in account is who does it); None when cancelled."""
        with ui.dialog() as dialog, ui.card().classes("gap-2 w-full max-w-lg").mark(marker):
            ui.label(title).classes("text-h6")
            ui.label(message).classes("text-grey-8")
            ui.label(_("Recorded as {page_actor}").format(page_actor=page_actor())).classes(
                "text-caption text-grey-7"
            ).mark("by")
            comment = ui.textarea(_("Comment (optional)")).classes("w-full").mark("comment")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(_("Cancel"), on_click=lambda: dialog.submit(None)).props("flat").mark("cancel")
                ui.button(action, on_click=lambda: dialog.submit(comment.value or "")).mark("confirm")
        answer = await dialog
        if not dialog.is_deleted:
            dialog.delete()
        return answer

    async def acknowledge(self, alert: dict[str, Any]) -> None:
        comment = await self._ask_about(
            alert,
            _("Acknowledge '{rule}' in {where}"),
            _("Say that you take care of it."),
            _("Acknowledge"),
            "ack",
        )
        if comment is not None:
            await self._operate(
                alert,
                _("acknowledged"),
                self.alerting.acknowledge(alert["id"], page_actor(), comment),
                audit=N_("alert acknowledged"),
            )

    async def resolve(self, alert: dict[str, Any]) -> None:
        comment = await self._ask_about(
            alert,
            _("Resolve '{rule}' in {where}?"),
            _(
                "Closes the alert by hand. If the condition persists, the rule raises a new alert after its "
                "cooldown and duration."
            ),
            _("Resolve"),
            "resolve",
        )
        if comment is not None:
            await self._operate(
                alert,
                _("resolved"),
                self.alerting.resolve(alert["id"], page_actor(), comment),
                audit=N_("alert resolved"),
            )

    async def snooze(self, alert: dict[str, Any], minutes: int) -> None:
        if page_allows("operator", site=alert["enseigne"]):
            verb = (
                _("snoozed {duration}").format(duration=_(SNOOZES[minutes]))
                if minutes
                else _("no longer snoozed")
            )
            work = self.alerting.snooze(alert["id"], minutes, page_actor())
            await self._operate(
                alert, verb, work, audit=N_("alert snoozed") if minutes else N_("alert snooze ended")
            )

    async def _ask_about(
        self, alert: dict[str, Any], title: str, message: str, action: str, kind: str
    ) -> str | None:
        """The comment for acknowledging or resolving `alert` (None: not allowed, or cancelled); `action` is
        the confirming button's text, `kind` names the dialog for tests (`ack-dialog`, `resolve-dialog`)."""
        if not page_allows("operator", site=alert["enseigne"]):
            return None
        where = f"{alert['enseigne']} / {alert['salle']}"
        return await self._ask(
            title.format(rule=rule_name(alert["rule"]), where=where), message, action, f"{kind}-dialog"
        )

    async def _operate(self, alert: dict[str, Any], verb: str, work, *, audit: str) -> None:
        """Carry out an operator's change of `alert`, confirmed ("Alert ... acknowledged") and audited."""
        where = f"{alert['enseigne']} / {alert['salle']}"
        if await attempt(
            _("The alert was not changed"),
            work,
            done=_("Alert '{value}' in {where} {verb}").format(
                value=rule_name(alert["rule"]), where=where, verb=verb
            ),
            audit=audit,
            target=f"alert {alert['id']}: {alert['rule']} in {where}",
        ):
            await self.reload()

    # -- history
    async def load_history(self) -> None:
        hours = SINCE[self.since.value][1]
        since_ms = None if hours is None else int((time.time() - hours * 3600) * 1000)
        alerts = await self._alerts(
            state=None if self.state.value == "all" else self.state.value,
            site=self.site.value or None,
            room=(self.room.value or "").strip() or None,
            since_ms=since_ms,
        )
        self.history.rows = history_rows(alerts)
        self.history.update()

    # -- rules
    @ui.refreshable_method
    def rules_view(self, rules: list[dict[str, Any]]) -> None:
        if not rules:
            ui.label(_("No rules: nothing raises alerts. Add one with 'New rule'.")).classes("text-grey-7")
        in_force = [_as_rule(r) for r in rules]
        editable = page_allows("admin", quiet=True)
        with ui.card().classes("w-full gap-1"):
            for rule, as_rule in zip(rules, in_force, strict=True):
                with ui.row().classes("w-full items-center gap-3").mark(f"rule-{rule['id']}"):
                    ui.badge(severity(rule["severity"]), color=SEVERITY_COLOURS.get(rule["severity"]))
                    ui.label(rule_name(rule["name"])).classes("text-body1 text-weight-medium").mark(
                        "rule-title"
                    )
                    ui.label(f"{metric_label(rule['metric'])} {rule_condition(rule)}").classes("text-grey-8")
                    scope = self.scopes.get(_rule_scope(rule), _("all rooms"))
                    ui.label(f"· {scope}").classes("text-caption text-grey-7")
                    if not rule["enabled"]:
                        ui.badge("disabled", color="grey-5")
                    replaced = replaced_rules(as_rule, in_force, self.site_of_room)
                    if replaced:
                        names = ", ".join(f"'{r.name}'" for r in replaced)
                        ui.label(_("replaces {names} here").format(names=names)).classes(
                            "text-caption text-primary"
                        ).mark("rule-replaces")
                    ui.space()
                    if editable:
                        small_button(_("Edit"), "edit", lambda r=rule: self.edit_rule(r), "edit-rule")
                        small_button(
                            _("Delete"),
                            "delete",
                            lambda r=rule: self.delete_rule(r),
                            "delete-rule",
                            "negative",
                        )

    async def _reload_rules(self) -> None:
        self.rules_view.refresh(await self._rules())

    async def edit_rule(self, rule: dict[str, Any] | None) -> None:
        if not page_allows("admin"):
            return
        await self._load_scopes()
        with ui.dialog() as dialog, ui.card().classes("gap-2 min-w-[40rem]").mark("rule-dialog"):
            ui.label(
                _("New rule") if rule is None else _("Edit rule '{value}'").format(value=rule["name"])
            ).classes("text-h6")
            form = RuleForm(rule or {}, self.scopes)

            async def save() -> None:  # the dialog stays open while the service refuses the rule
                form.show_errors([])
                action = (
                    self.alerting.create_rule(form.value)
                    if rule is None
                    else self.alerting.update_rule(rule["id"], form.value)
                )
                saved = await attempt(
                    _("The rule was not saved"),
                    action,
                    on_invalid=form.show_errors,
                    done=lambda r: _("Rule '{value}' saved").format(value=r["name"]),
                    audit=N_("rule created") if rule is None else N_("rule changed"),
                    target=f"rule {form.value.get('name')}",
                )
                if saved:
                    dialog.submit(True)

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(_("Cancel"), on_click=lambda: dialog.submit(None)).props("flat")
                ui.button(_("Save"), on_click=save).mark("save-rule")
        if await dialog:
            await self._reload_rules()
        if not dialog.is_deleted:
            dialog.delete()

    async def delete_rule(self, rule: dict[str, Any]) -> None:
        if not page_allows("admin"):
            return
        message = _(
            "This deletes rule '{value}' and resolves its open alerts; they stay in the history."
        ).format(value=rule["name"])
        if not await confirm(_("Delete rule '{value}'?").format(value=rule["name"]), message):
            return
        if await attempt(
            _("The rule was not deleted"),
            self.alerting.delete_rule(rule["id"]),
            done=_("Rule '{value}' deleted").format(value=rule["name"]),
            audit=N_("rule deleted"),
            target="rule {value}: {value2}".format(value=rule["id"], value2=rule["name"]),
        ):
            await self._reload_rules()
