"""The alerts' lifecycle as operators drive it: list, look at, acknowledge, snooze and resolve alerts, and
the alerts other services raise on a room (a model that cannot load)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Connection

from app.core.domain.alerts import (
    ALERT_STATES,
    Rule,
    resolve_manually,
)
from app.core.domain.readings import FieldError
from app.core.i18n import _
from app.core.storage.alerts import alert_dict

from ..errors import Conflict, NotFound
from ..scope import EVERYTHING, Selection
from .engine import AlertEngine, Change

MAX_SNOOZE_MIN = 7 * 24 * 60


class AlertLifecycle(AlertEngine):
    # -- alerts: reading and the operators' actions -----------------------------------------------------
    def open_counts(self) -> dict[int, dict[str, int]]:
        """{room id: {severity: open alerts}} from memory (no I/O: the dashboard asks for every tile)."""
        out: dict[int, dict[str, int]] = {}
        for room_id, severity in list(self._open_rooms.values()):  # the worker thread may change it
            counts = out.setdefault(room_id, {})
            counts[severity] = counts.get(severity, 0) + 1
        return out

    def open_total(self, sites: frozenset[str] | None) -> int:
        """Open alerts that need someone in the rooms of `sites` (None: every site), from memory: the
        navigation's count. Snoozed ones are left out until their snooze ends."""
        rooms, now_ms = self._rooms, int(self.clock() * 1000)
        return sum(
            1
            for alert_id, (room_id, _) in list(self._open_rooms.items())
            if self._snoozed.get(alert_id, 0) <= now_ms
            and (sites is None or ((room := rooms.get(room_id)) is not None and room.site in sites))
        )

    async def list_alerts(
        self,
        selection: Selection = EVERYTHING,
        *,
        state: str | None = None,
        since_ms: int | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """The selected rooms' alerts (services.scope), open ones first, then newest first. `state`: active,
        acknowledged, resolved, or open (the first two)."""
        if state is not None and state not in (*ALERT_STATES, "open"):
            raise FieldError("state", _("must be active, acknowledged, resolved or open")).as_error()
        states = ("active", "acknowledged") if state == "open" else (state,) if state else None
        return await asyncio.to_thread(
            self.store.list_alerts,
            states=states,
            room_ids=selection.room_ids,
            since_ms=since_ms,
            limit=limit,
        )

    async def get_alert(self, alert_id: int) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with self.store.engine.connect() as conn:
                row = self.store.alert(conn, alert_id)
            if row is None:
                raise NotFound(_("alert {alert_id} does not exist").format(alert_id=alert_id))
            return {
                **alert_dict(row),
                "history": self.store.events(alert_id),
                "notifications": self.store.notifications(alert_id),
            }

        return await asyncio.to_thread(work)

    async def acknowledge(self, alert_id: int, by: Any, comment: Any = None) -> dict[str, Any]:
        """Someone takes charge of an open alert. `by` is required; `comment` optional."""
        by, comment = _who(by), _comment(comment)

        def work() -> list[Change]:
            with self.store.engine.begin() as conn:
                row = self._open_row(conn, alert_id)
                if row.state == "acknowledged":
                    raise Conflict(
                        _("alert {alert_id} was acknowledged already by {acknowledged_by}").format(
                            alert_id=alert_id, acknowledged_by=row.acknowledged_by
                        )
                    )
                return [("acknowledged", alert_dict(self.store.acknowledge(conn, alert_id, by, comment)))]

        return (await self._locked(work))[0][1]

    async def snooze(self, alert_id: int, minutes: Any, by: Any, comment: Any = None) -> dict[str, Any]:
        """Put an open alert aside for `minutes` (1 min to 7 days): it stays open and in the history, but
        the navigation's count leaves it out and the open list shows it last until then; 0 ends a snooze."""
        by, comment = _who(by), _comment(comment)
        whole = isinstance(minutes, int) and not isinstance(minutes, bool)
        if not whole or not 0 <= minutes <= MAX_SNOOZE_MIN:
            raise FieldError(
                "minutes",
                _("must be a whole number of minutes from 0 to {MAX_SNOOZE_MIN}").format(
                    MAX_SNOOZE_MIN=MAX_SNOOZE_MIN
                ),
            ).as_error()

        def work() -> list[Change]:
            with self.store.engine.begin() as conn:
                self._open_row(conn, alert_id)
                until_ms = int(self.clock() * 1000) + minutes * 60_000 if minutes else None
                row = self.store.snooze(conn, alert_id, until_ms, by, comment)
                self._snoozed[alert_id] = until_ms or 0
                return [("snoozed", alert_dict(row))]

        return (await self._locked(work))[0][1]

    async def resolve(self, alert_id: int, by: Any, comment: Any = None) -> dict[str, Any]:
        """Close an alert by hand. The rule starts over: its cooldown runs from now, and a condition that
        persists raises a new alert after a full duration (an offline sensor: once it reported again)."""
        by, comment = _who(by), _comment(comment)

        def work() -> list[Change]:
            now_ms = int(self.clock() * 1000)
            with self.store.engine.begin() as conn:
                row = self._open_row(conn, alert_id)
                self._forget(row, now_ms)
                return [self._closed(self.store.resolve(conn, alert_id, now_ms, by=by, comment=comment))]

        return (await self._locked(work))[0][1]

    def _open_row(self, conn: Connection, alert_id: int) -> Any:
        row = self.store.alert(conn, alert_id)
        if row is None:
            raise NotFound(_("alert {alert_id} does not exist").format(alert_id=alert_id))
        if row.state == "resolved":
            raise Conflict(_("alert {alert_id} is resolved already").format(alert_id=alert_id))
        return row

    def _forget(self, row: Any, now_ms: int) -> None:
        """The engine's side of resolving an alert by hand (or because its rule went away)."""
        if row.sensor_id is not None:
            key = (row.rule_id, row.sensor_id)
            self._offline_open.pop(key, None)
            cadence = self._cadence.get(row.sensor_id)
            self._dismissed[key] = cadence.last_ms if cadence else None
            return
        key = (row.rule_id, row.room_id)
        self._open.pop(key, None)
        state = self._states.get(key)
        if state is not None:
            resolve_manually(state, state.last_ms if state.last_ms is not None else now_ms)

    # -- alerts raised by other services (a module that did not answer a command) ---------------------------
    async def raise_external(
        self, room_id: int, name: str, metric: str, *, severity: str = "warning", value: float | None = None
    ) -> dict[str, Any] | None:
        """Raise an alert that no rule evaluates (e.g. `module:ventilation` for a command that failed); it is
        resolved with `resolve_external` or by an operator. None if the room no longer exists."""
        rule = Rule(id=None, name=name, metric=metric, direction="above", trigger=0.0, reset=0.0,
                    severity=severity)  # type: ignore[arg-type]  # fmt: skip

        def work() -> list[Change]:
            now_ms = int(self.clock() * 1000)
            with self.store.engine.begin() as conn:
                if self.store.check_scope(conn, None, room_id) is not None:
                    return []
                return [self._opened(self.store.raise_alert(conn, rule, room_id, now_ms, rule_name=name,
                                                            value=value))]  # fmt: skip

        changes = await self._locked(work)
        return changes[0][1] if changes else None

    def open_external_sync(self, metric_prefix: str) -> list[dict[str, Any]]:
        """Open alerts raised by `raise_external` whose metric starts with `metric_prefix` (blocking: for
        start-up)."""
        rows = self.store.list_alerts(states=("active", "acknowledged"), limit=100_000)
        return [a for a in rows if a["rule_id"] is None and str(a["metric"]).startswith(metric_prefix)]

    async def resolve_external(self, alert_id: int, comment: str) -> None:
        """Close an alert raised by `raise_external`, unless an operator did already."""

        def work() -> list[Change]:
            now_ms = int(self.clock() * 1000)
            with self.store.engine.begin() as conn:
                row = self.store.alert(conn, alert_id)
                if row is None or row.state == "resolved":
                    return []
                return [self._closed(self.store.resolve(conn, alert_id, now_ms, comment=comment))]

        await self._locked(work)

    # -- rules ------------------------------------------------------------------------------------------


def _who(by: Any) -> str:
    if not isinstance(by, str) or not by.strip() or len(by.strip()) > 128:
        raise FieldError("by", _("must name who does it (1 to 128 characters)")).as_error()
    return by.strip()


def _comment(comment: Any) -> str | None:
    if comment is None or comment == "":
        return None
    if not isinstance(comment, str) or len(comment) > 1000:
        raise FieldError("comment", _("must be text of at most 1000 characters")).as_error()
    return comment.strip() or None
