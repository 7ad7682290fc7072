"""Alert rules, alerts, their history and notification attempts in the registry's SQL database.

Every method blocks (SQL); the alerting service calls them from a thread. Times are ms since the epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from app.core.db.models import Room, Sensor, Site
from app.core.domain.alerts import Rule
from app.core.domain.timesteps import iso_ms

from .sql_schema import alert_events, alert_rules, alerts, latest_values, notifications

RULE_FIELDS = (
    "name", "description", "metric", "direction", "trigger", "reset", "duration_s", "cooldown_s", "severity",
    "site_id", "room_id", "only_open_hours", "enabled",
)  # fmt: skip


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room_id: int
    room: str
    site_id: int
    site: str
    timezone: str
    opening_hours: dict | None


def rule_from_row(row: Any) -> Rule:
    return Rule(
        id=row.id,
        name=row.name,
        metric=row.metric,
        direction=row.direction,
        trigger=row.trigger,
        reset=row.reset,
        duration_s=row.duration_s,
        cooldown_s=row.cooldown_s,
        severity=row.severity,
        site_id=row.site_id,
        room_id=row.room_id,
        only_open_hours=row.only_open_hours,
        enabled=row.enabled,
    )


def rule_dict(row: Any) -> dict[str, Any]:
    out = {key: getattr(row, key) for key in ("id", *RULE_FIELDS)}
    out["scope"] = "room" if row.room_id is not None else "site" if row.site_id is not None else "global"
    out["updated_at"] = iso_ms(row.updated_ms)
    return out


def _iso(ts: int | None) -> str | None:
    return iso_ms(ts) if ts is not None else None


def alert_dict(row: Any) -> dict[str, Any]:
    """An alert as the API, `/ws` and webhooks show it (French site and room names, as the contract has)."""
    return {
        "id": row.id,
        "rule_id": row.rule_id,
        "rule": row.rule_name,
        "metric": row.metric,
        "direction": row.direction,
        "severity": row.severity,
        "state": row.state,
        "enseigne": row.site,
        "salle": row.room,
        "room_id": row.room_id,
        "sensor_id": row.sensor_id,
        "threshold": row.threshold,
        "reset": row.reset,
        "value": row.value,
        "peak": row.peak,
        "raised_at": iso_ms(row.raised_ms),
        "acknowledged_at": _iso(row.acknowledged_ms),
        "acknowledged_by": row.acknowledged_by,
        "ack_comment": row.ack_comment,
        "resolved_at": _iso(row.resolved_ms),
        "resolved_by": row.resolved_by,
        "resolved_value": row.resolved_value,
        "updated_at": iso_ms(row.updated_ms),
        "snoozed_until": _iso(row.snoozed_until_ms),
        "timezone": row.timezone,  # the room's: pages show alert times in the building's local time
    }


_ALERT_SELECT = (
    select(
        alerts,
        Room.name.label("room"),
        Site.name.label("site"),
        func.coalesce(Room.timezone, Site.timezone).label("timezone"),
    )
    .join(Room, alerts.c.room_id == Room.id)
    .join(Site, Room.site_id == Site.id)
)


class SqlAlertStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    # -- rules
    def rules(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(alert_rules).order_by(alert_rules.c.id)))

    def rule(self, conn: Connection, rule_id: int) -> Any:
        return conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).first()

    def check_scope(self, conn: Connection, site_id: int | None, room_id: int | None) -> str | None:
        """What is wrong with a rule's site and room, or None."""
        if room_id is not None:
            room_site = conn.scalar(select(Room.site_id).where(Room.id == room_id))
            if room_site is None:
                return f"room_id: room {room_id} does not exist"
            if site_id is not None and site_id != room_site:
                return f"site_id: room {room_id} belongs to site {room_site}, not {site_id}"
        elif site_id is not None and conn.scalar(select(Site.id).where(Site.id == site_id)) is None:
            return f"site_id: site {site_id} does not exist"
        return None

    def insert_rule(self, conn: Connection, fields: dict[str, Any]) -> Any:
        rule_id = conn.execute(
            insert(alert_rules).values(**fields, updated_ms=now_ms()).returning(alert_rules.c.id)
        ).scalar_one()
        return self.rule(conn, rule_id)

    def update_rule(self, conn: Connection, rule_id: int, fields: dict[str, Any]) -> Any:
        conn.execute(
            update(alert_rules).where(alert_rules.c.id == rule_id).values(**fields, updated_ms=now_ms())
        )
        return self.rule(conn, rule_id)

    def delete_rule(self, conn: Connection, rule_id: int) -> None:
        conn.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))

    # -- what the evaluator needs at start
    def rooms(self) -> dict[int, RoomInfo]:
        stmt = select(
            Room.id,
            Room.name,
            Site.id,
            Site.name,
            func.coalesce(Room.timezone, Site.timezone),
            Site.opening_hours,
        ).join(Site, Room.site_id == Site.id)
        with self.engine.connect() as conn:
            return {row[0]: RoomInfo(*row) for row in conn.execute(stmt)}

    def sensor_last_times(self) -> dict[str, tuple[int, int]]:
        """{sensor id: (room id, time of its newest value)} for sensors in a room, from `latest_values`."""
        stmt = (
            select(Sensor.sensor_id, Sensor.room_id, func.max(latest_values.c.ts_ms))
            .join(latest_values, latest_values.c.sensor_pk == Sensor.id)
            .where(Sensor.room_id.is_not(None))
            .group_by(Sensor.sensor_id, Sensor.room_id)
        )
        with self.engine.connect() as conn:
            return {sensor: (room_id, int(ts)) for sensor, room_id, ts in conn.execute(stmt)}

    def open_alerts(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(alerts).where(alerts.c.state != "resolved")))

    # -- alerts
    def alert(self, conn: Connection, alert_id: int) -> Any:
        return conn.execute(_ALERT_SELECT.where(alerts.c.id == alert_id)).first()

    def raise_alert(self, conn: Connection, rule: Rule, room_id: int, ts_ms: int, **fields: Any) -> Any:
        alert_id = conn.execute(
            insert(alerts)
            .values(
                rule_id=rule.id,
                metric=rule.metric,
                direction=rule.direction,
                severity=rule.severity,
                threshold=rule.trigger,
                reset=rule.reset,
                room_id=room_id,
                state="active",
                raised_ms=ts_ms,
                updated_ms=now_ms(),
                **fields,
            )
            .returning(alerts.c.id)
        ).scalar_one()
        self.event(conn, alert_id, "raised", ts_ms, value=fields.get("value"))
        return self.alert(conn, alert_id)

    def acknowledge(self, conn: Connection, alert_id: int, by: str, comment: str | None) -> Any:
        ts = now_ms()
        conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(state="acknowledged", acknowledged_ms=ts, acknowledged_by=by, ack_comment=comment,
                    updated_ms=ts)
        )  # fmt: skip
        self.event(conn, alert_id, "acknowledged", ts, by=by, comment=comment)
        return self.alert(conn, alert_id)

    def snooze(self, conn: Connection, alert_id: int, until_ms: int, by: str, comment: str | None) -> Any:
        ts = now_ms()
        conn.execute(
            update(alerts).where(alerts.c.id == alert_id).values(snoozed_until_ms=until_ms, updated_ms=ts)
        )
        self.event(conn, alert_id, "snoozed", ts, by=by, comment=comment)
        return self.alert(conn, alert_id)

    def resolve(
        self,
        conn: Connection,
        alert_id: int,
        ts_ms: int,
        *,
        by: str | None = None,
        value: float | None = None,
        peak: float | None = None,
        comment: str | None = None,
    ) -> Any:
        values: dict[str, Any] = {
            "state": "resolved",
            "resolved_ms": ts_ms,
            "resolved_by": by,
            "resolved_value": value,
            "updated_ms": now_ms(),
        }
        if peak is not None:
            values["peak"] = peak
        conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
        self.event(conn, alert_id, "resolved", ts_ms, by=by, comment=comment, value=value)
        return self.alert(conn, alert_id)

    def event(self, conn: Connection, alert_id: int, kind: str, ts_ms: int, **fields: Any) -> None:
        conn.execute(insert(alert_events).values(alert_id=alert_id, kind=kind, ts_ms=ts_ms, **fields))

    def events(self, alert_id: int) -> list[dict[str, Any]]:
        stmt = select(alert_events).where(alert_events.c.alert_id == alert_id).order_by(alert_events.c.id)
        with self.engine.connect() as conn:
            return [
                {"kind": r.kind, "at": iso_ms(r.ts_ms), "by": r.by, "comment": r.comment, "value": r.value}
                for r in conn.execute(stmt)
            ]

    def list_alerts(
        self,
        *,
        states: tuple[str, ...] | None = None,
        room_ids: frozenset[int] | None = None,
        since_ms: int | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Newest first; open alerts (active, acknowledged) before resolved ones; of `room_ids` (None: every
        room)."""
        stmt = _ALERT_SELECT
        if states:
            stmt = stmt.where(alerts.c.state.in_(states))
        if room_ids is not None:
            stmt = stmt.where(alerts.c.room_id.in_(sorted(room_ids)))
        if since_ms is not None:
            stmt = stmt.where(alerts.c.raised_ms >= since_ms)
        stmt = stmt.order_by((alerts.c.state == "resolved").asc(), alerts.c.raised_ms.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [alert_dict(row) for row in conn.execute(stmt)]

    def record_notification(
        self, alert_id: int, event: str, channel: str, target: str, attempt: int, ok: bool, detail: str | None
    ) -> None:
        with self.engine.begin() as conn:
            if conn.scalar(select(alerts.c.id).where(alerts.c.id == alert_id)) is None:
                return  # the alert's room was deleted meanwhile
            conn.execute(
                insert(notifications).values(
                    alert_id=alert_id, event=event, channel=channel, target=target[:512], attempt=attempt,
                    ok=ok, detail=(detail or "")[:500] or None, ts_ms=now_ms(),
                )
            )  # fmt: skip

    def notifications(self, alert_id: int | None = None) -> list[dict[str, Any]]:
        stmt = select(notifications).order_by(notifications.c.id)
        if alert_id is not None:
            stmt = stmt.where(notifications.c.alert_id == alert_id)
        with self.engine.connect() as conn:
            return [
                {
                    "alert_id": r.alert_id, "event": r.event, "channel": r.channel, "target": r.target,
                    "attempt": r.attempt, "ok": r.ok, "detail": r.detail, "at": iso_ms(r.ts_ms),
                }
                for r in conn.execute(stmt)
            ]  # fmt: skip
