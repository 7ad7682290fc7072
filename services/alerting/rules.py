"""Alert rules: list, create, change and delete them; a change takes effect at once and ends the open alerts
of a rule that no longer applies."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Connection

from app.core.domain.alerts import (
    check_rule,
)
from app.core.domain.readings import FieldError, InvalidInput
from app.core.i18n import _
from app.core.storage.alerts import RULE_FIELDS, SqlAlertStore, rule_dict

from ..errors import NotFound
from .engine import Change
from .lifecycle import AlertLifecycle


class AlertingService(AlertLifecycle):
    """Alerting as the rest of the platform uses it: the engine, the operators' lifecycle and the rules."""

    async def list_rules(self) -> list[dict[str, Any]]:
        return [rule_dict(row) for row in await asyncio.to_thread(self.store.rules)]

    async def get_rule(self, rule_id: int) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with self.store.engine.connect() as conn:
                return rule_dict(self._rule_row(conn, rule_id))

        return await asyncio.to_thread(work)

    def _rule_row(self, conn: Connection, rule_id: int) -> Any:
        row = self.store.rule(conn, rule_id)
        if row is None:
            raise NotFound(_("alert rule {rule_id} does not exist").format(rule_id=rule_id))
        return row

    async def create_rule(self, data: Any) -> dict[str, Any]:
        """A new rule; InvalidInput names every invalid field."""
        fields = check_rule(data)
        result: dict[str, Any] = {}

        def work() -> list[Change]:
            with self.store.engine.begin() as conn:
                _check_scope(self.store, conn, fields)
                result.update(rule_dict(self.store.insert_rule(conn, fields)))
            self._load_rules()
            return self._close_superseded()

        await self._locked(work)
        return result

    async def update_rule(self, rule_id: int, data: Any) -> dict[str, Any]:
        """Change some fields of a rule. Disabling it, or changing what it watches, resolves its open
        alerts; new thresholds apply from the next reading."""
        result: dict[str, Any] = {}

        def work() -> list[Change]:
            changes: list[Change] = []
            with self.store.engine.begin() as conn:
                old = self._rule_row(conn, rule_id)
                fields = check_rule(data, base={key: getattr(old, key) for key in RULE_FIELDS})
                _check_scope(self.store, conn, fields)
                new = self.store.update_rule(conn, rule_id, fields)
                watches = ("metric", "direction", "site_id", "room_id")
                if not new.enabled or any(getattr(old, k) != getattr(new, k) for k in watches):
                    why = "rule disabled" if not new.enabled else "rule changed"
                    changes += self._close_rule_alerts(conn, rule_id, why)
                result.update(rule_dict(new))
            self._load_rules()
            return changes + self._close_superseded()

        await self._locked(work)
        return result

    async def delete_rule(self, rule_id: int) -> dict[str, Any]:
        """Delete a rule; its open alerts are resolved, its alerts stay in the history."""
        result: dict[str, Any] = {}

        def work() -> list[Change]:
            with self.store.engine.begin() as conn:
                row = self._rule_row(conn, rule_id)
                changes = self._close_rule_alerts(conn, rule_id, "rule deleted")
                self.store.delete_rule(conn, rule_id)
            self._load_rules()
            result.update(
                {"deleted": "alert rule", "id": rule_id, "name": row.name, "resolved": len(changes)}
            )
            return changes

        await self._locked(work)
        return result

    def _close_superseded(self) -> list[Change]:
        """Resolve open alerts of rules that no longer apply to their room: a more specific rule replaced
        them (else no reading would ever resolve them)."""
        stale = [
            alert_id
            for (rule_id, room_id), alert_id in self._open.items()
            if (room := self._rooms.get(room_id)) is not None
            and all(rule.id != rule_id for rule in self._rules_of(room))
        ]
        changes: list[Change] = []
        if not stale:
            return changes
        now_ms = int(self.clock() * 1000)
        with self.store.engine.begin() as conn:
            for alert_id in stale:
                row = self.store.alert(conn, alert_id)
                if row is not None and row.state != "resolved":
                    self._forget(row, now_ms)
                    why = "replaced by a more specific rule"
                    changes.append(
                        self._closed(self.store.resolve(conn, alert_id, now_ms, by="system", comment=why))
                    )
        return changes

    def _close_rule_alerts(self, conn: Connection, rule_id: int, why: str) -> list[Change]:
        now_ms = int(self.clock() * 1000)
        ids = [i for (r, _), i in self._open.items() if r == rule_id]
        ids += [i for (r, _), i in self._offline_open.items() if r == rule_id]
        changes = []
        for alert_id in ids:
            row = self.store.alert(conn, alert_id)
            if row is None or row.state == "resolved":
                continue
            self._forget(row, now_ms)
            changes.append(self._closed(self.store.resolve(conn, alert_id, now_ms, by="system", comment=why)))
        self._states = {key: state for key, state in self._states.items() if key[0] != rule_id}
        self._plans = {}
        return changes


def _check_scope(store: SqlAlertStore, conn: Connection, fields: dict[str, Any]) -> None:
    problem = store.check_scope(conn, fields["site_id"], fields["room_id"])
    if problem:
        field, _sep, text = problem.partition(": ")
        raise InvalidInput([FieldError(field, text)])
