"""Modules, their actions and each room's automation settings in the registry's SQL database.

Every method blocks (SQL); the services call them from a thread. Times are ms since the epoch.
The `module_actions` table is also the embedded store's `iaq_actions` series (one row per action, indexed by
time); an InfluxDB store receives the same actions as points (`services.modules.iaq_actions_point`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from app.core.db.models import Module, ModuleAction, ModuleStateChange, Room, RoomAutomation, Site
from app.core.domain.modules import ventilation_level
from app.core.domain.timesteps import iso_ms

AUTOMATION_FIELDS = (
    "mode", "min_on_s", "cooldown_s", "daily_budget", "manual_hold_s",
    "co2_on_ppm", "co2_off_ppm", "pm25_on_ugm3", "pm25_off_ugm3",
)  # fmt: skip
AUTOMATION_DEFAULTS: dict[str, Any] = {
    "mode": "off", "min_on_s": 900.0, "cooldown_s": 600.0, "daily_budget": 24, "manual_hold_s": 3600.0,
    "co2_on_ppm": 1000.0, "co2_off_ppm": 750.0, "pm25_on_ugm3": 25.0, "pm25_off_ugm3": 10.0,
}  # fmt: skip


# the newest state changes kept per module: a unit switched every ten minutes around the clock fills this in
# about seven weeks, more than the fourteen days forecasting reads
MAX_STATE_CHANGES_PER_MODULE = 10_000


def slug(text: str) -> str:
    """A name as one MQTT topic level: ASCII lower case, words joined by '-', no wildcard or separator."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "x"


@dataclass(slots=True)
class ModuleInfo:
    """A module with its room's names: what the services keep in memory and the API shows."""

    id: int
    room_id: int
    site: str
    room: str
    module_type: str
    name: str
    topic: str
    state: dict[str, Any] | None
    state_ms: int | None
    state_by: str | None
    available: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "enseigne": self.site,
            "salle": self.room,
            "room_id": self.room_id,
            "module_type": self.module_type,
            "name": self.name,
            "topic": self.topic,
            "state": self.state,
            "state_changed_at": iso_ms(self.state_ms) if self.state_ms is not None else None,
            "state_changed_by": self.state_by,
            "available": self.available,
            **self.extra,
        }


_MODULE_COLUMNS = (
    "id", "room_id", "module_type", "name", "topic", "state", "state_ms", "state_by", "available",
)  # fmt: skip
_MODULE_SELECT = (
    select(*(getattr(Module, c) for c in _MODULE_COLUMNS), Room.name.label("room"), Site.name.label("site"))
    .join(Room, Module.room_id == Room.id)
    .join(Site, Room.site_id == Site.id)
)


def _info(row: Any) -> ModuleInfo:
    return ModuleInfo(
        row.id, row.room_id, row.site, row.room, row.module_type, row.name, row.topic, row.state,
        row.state_ms, row.state_by, row.available,
    )  # fmt: skip


_ACTION_COLUMNS = [c for c in ModuleAction.__table__.c]


def action_dict(row: Any, module: ModuleInfo | None) -> dict[str, Any]:
    """An action as the API and `/ws` show it (the seed's French site and room names)."""
    out = {
        "id": row.id,
        "module_id": row.module_id,
        "action_type": row.action_type,
        "desired": row.desired,
        "requested_by": row.requested_by,
        "source": row.source,
        "priority": row.priority,
        "reason": row.reason,
        "status": row.status,
        "requested_at": iso_ms(row.requested_ms),
        "completed_at": iso_ms(row.completed_ms) if row.completed_ms is not None else None,
        "error": row.error,
        "ach_per_h": row.ach_per_h,
        "ach_r2": row.ach_r2,
    }
    if module is not None:
        out.update(
            enseigne=module.site, salle=module.room, room_id=module.room_id,
            module_type=module.module_type, module=module.name,
        )  # fmt: skip
    return out


class SqlModuleStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    # -- modules
    def modules(self) -> list[ModuleInfo]:
        with self.engine.connect() as conn:
            return [_info(row) for row in conn.execute(_MODULE_SELECT.order_by(Module.id))]

    def module(self, module_id: int) -> ModuleInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(_MODULE_SELECT.where(Module.id == module_id)).first()
        return _info(row) if row else None

    def room_names(self, room_id: int) -> tuple[str, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(Site.name, Room.name).join(Room, Room.site_id == Site.id).where(Room.id == room_id)
            ).first()
        return (row[0], row[1]) if row else None

    def add_module(
        self, room_id: int, module_type: str, name: str, topic: str, state: dict[str, Any], now_ms: int
    ) -> ModuleInfo:
        with self.engine.begin() as conn:
            module_id = conn.execute(
                insert(Module)
                .values(
                    room_id=room_id, module_type=module_type, name=name, topic=topic, state=state,
                    state_ms=now_ms, state_by="registered", available=True,
                )
                .returning(Module.id)
            ).scalar_one()  # fmt: skip
            _record_change(conn, module_id, state, now_ms)
        info = self.module(module_id)
        assert info is not None
        return info

    def delete_module(self, module_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(Module).where(Module.id == module_id))

    def set_state(self, module_id: int, state: dict[str, Any], ts_ms: int, by: str) -> None:
        """A new state (the caller knows it changed): the module's row and its state history."""
        with self.engine.begin() as conn:
            conn.execute(
                update(Module).where(Module.id == module_id).values(state=state, state_ms=ts_ms, state_by=by)
            )
            _record_change(conn, module_id, state, ts_ms)

    def report_change(
        self, module_id: int, state: dict[str, Any], ts_ms: int, *, after_failed_action: int | None = None
    ) -> Any:
        """A state the device reported on its own (not the answer to a pending command): the module's row,
        its state history and a `reported` action in the history, in one transaction. `after_failed_action`:
        the failed command whose state this is (the device did it late, or someone did it by hand)."""
        reason = {"after_failed_action": after_failed_action} if after_failed_action is not None else None
        with self.engine.begin() as conn:
            conn.execute(
                update(Module)
                .where(Module.id == module_id)
                .values(state=state, state_ms=ts_ms, state_by="device")
            )
            _record_change(conn, module_id, state, ts_ms)
            action_id = conn.execute(
                insert(ModuleAction)
                .values(
                    module_id=module_id, action_type="reported", desired=state, requested_by="device",
                    source="device", priority="normal", reason=reason, status="reported",
                    requested_ms=ts_ms, completed_ms=ts_ms,
                )
                .returning(ModuleAction.id)
            ).scalar_one()  # fmt: skip
            return conn.execute(select(*_ACTION_COLUMNS).where(ModuleAction.id == action_id)).one()

    def last_failed_action(self, module_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(*_ACTION_COLUMNS)
                .where(ModuleAction.module_id == module_id, ModuleAction.status == "failed")
                .order_by(ModuleAction.requested_ms.desc(), ModuleAction.id.desc())
                .limit(1)
            ).first()

    def acknowledge(
        self,
        module_id: int,
        state: dict[str, Any],
        ts_ms: int,
        by: str,
        action_id: int,
        *,
        changed: bool = True,
    ) -> Any:
        """The module's new state and its command's acknowledgement, in one transaction (and the state in the
        history when it `changed`: a command may ask for the state a module is in already)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(Module).where(Module.id == module_id).values(state=state, state_ms=ts_ms, state_by=by)
            )
            if changed:
                _record_change(conn, module_id, state, ts_ms)
            conn.execute(
                update(ModuleAction)
                .where(ModuleAction.id == action_id)
                .values(status="acknowledged", completed_ms=ts_ms)
            )
            return conn.execute(select(*_ACTION_COLUMNS).where(ModuleAction.id == action_id)).first()

    def set_available(self, module_id: int, available: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Module).where(Module.id == module_id).values(available=available))

    # -- actions
    def add_action(self, **values: Any) -> Any:
        with self.engine.begin() as conn:
            stmt = insert(ModuleAction).values(**values).returning(ModuleAction.id)
            action_id = conn.execute(stmt).scalar_one()
            return conn.execute(select(*_ACTION_COLUMNS).where(ModuleAction.id == action_id)).one()

    def update_action(self, action_id: int, **values: Any) -> Any:
        with self.engine.begin() as conn:
            conn.execute(update(ModuleAction).where(ModuleAction.id == action_id).values(**values))
            return conn.execute(select(*_ACTION_COLUMNS).where(ModuleAction.id == action_id)).first()

    def action(self, action_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(*_ACTION_COLUMNS).where(ModuleAction.id == action_id)).first()

    def actions(
        self, module_ids: list[int] | None, *, limit: int = 100, status: str | None = None
    ) -> list[Any]:
        stmt = select(*_ACTION_COLUMNS).order_by(ModuleAction.requested_ms.desc(), ModuleAction.id.desc())
        if module_ids is not None:
            stmt = stmt.where(ModuleAction.module_id.in_(module_ids))
        if status is not None:
            stmt = stmt.where(ModuleAction.status == status)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt.limit(limit)))

    def pending_actions(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(*_ACTION_COLUMNS).where(ModuleAction.status == "pending")))

    def air_change_rates(self) -> dict[int, tuple[float, float, int]]:
        """{room id: (latest air change rate /h, its r², when ms)} from ventilation actions."""
        stmt = (
            select(Module.room_id, ModuleAction.ach_per_h, ModuleAction.ach_r2, ModuleAction.requested_ms)
            .join(Module, ModuleAction.module_id == Module.id)
            .where(ModuleAction.ach_per_h.is_not(None))
            .order_by(ModuleAction.requested_ms)
        )
        with self.engine.connect() as conn:
            return {room: (ach, r2, ts) for room, ach, r2, ts in conn.execute(stmt)}

    # -- state history
    def ventilation_changes(self, room_id: int, start_ms: int, end_ms: int) -> list[tuple[int, int, float]]:
        """(module id, time ms, ventilation level) of the room's air-exchanging modules, oldest first: every
        change in [start_ms, end_ms], and each module's last change before `start_ms` (its state then)."""
        has_level = ModuleStateChange.ventilation.is_not(None)
        in_room = ModuleStateChange.room_id == room_id
        columns = (ModuleStateChange.module_id, ModuleStateChange.ts_ms, ModuleStateChange.ventilation)
        before = (
            select(ModuleStateChange.module_id, func.max(ModuleStateChange.ts_ms).label("ts_ms"))
            .where(in_room, has_level, ModuleStateChange.ts_ms < start_ms)
            .group_by(ModuleStateChange.module_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            earlier = conn.execute(
                select(*columns)
                .join(
                    before,
                    (ModuleStateChange.module_id == before.c.module_id)
                    & (ModuleStateChange.ts_ms == before.c.ts_ms),
                )
                .where(in_room, has_level)
            ).all()
            within = conn.execute(
                select(*columns)
                .where(in_room, has_level, ModuleStateChange.ts_ms.between(start_ms, end_ms))
                .order_by(ModuleStateChange.ts_ms, ModuleStateChange.id)
            ).all()
        rows = sorted(earlier, key=lambda r: r[1]) + list(within)
        return [(m, t, v) for m, t, v in rows]

    def state_changes(self, module_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """A module's state changes, newest first."""
        stmt = (
            select(ModuleStateChange)
            .where(ModuleStateChange.module_id == module_id)
            .order_by(ModuleStateChange.ts_ms.desc(), ModuleStateChange.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                {"at": iso_ms(r.ts_ms), "ts_ms": r.ts_ms, "state": r.state, "ventilation": r.ventilation}
                for r in conn.execute(stmt)
            ]

    # -- automation settings
    def automation(self) -> dict[int, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(RoomAutomation))
            return {row.room_id: {key: getattr(row, key) for key in AUTOMATION_FIELDS} for row in rows}

    def save_automation(self, room_id: int, settings: dict[str, Any]) -> None:
        values = {key: settings[key] for key in AUTOMATION_FIELDS}
        with self.engine.begin() as conn:
            exists = conn.scalar(select(func.count()).where(RoomAutomation.room_id == room_id))
            if exists:
                conn.execute(update(RoomAutomation).where(RoomAutomation.room_id == room_id).values(**values))
            else:
                conn.execute(insert(RoomAutomation).values(room_id=room_id, **values))


def _record_change(conn: Any, module_id: int, state: dict[str, Any], ts_ms: int) -> None:
    """Append a state change to the module's history (inside the caller's transaction) and keep the
    history's size bounded (`MAX_STATE_CHANGES_PER_MODULE`)."""
    row = conn.execute(select(Module.room_id, Module.module_type).where(Module.id == module_id)).first()
    if row is None:
        return
    conn.execute(
        insert(ModuleStateChange).values(
            module_id=module_id, room_id=row.room_id, ts_ms=ts_ms, state=state,
            ventilation=ventilation_level(row.module_type, state),
        )
    )  # fmt: skip
    oldest_kept = conn.scalar(
        select(ModuleStateChange.id)
        .where(ModuleStateChange.module_id == module_id)
        .order_by(ModuleStateChange.id.desc())
        .offset(MAX_STATE_CHANGES_PER_MODULE - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        conn.execute(
            delete(ModuleStateChange).where(
                ModuleStateChange.module_id == module_id, ModuleStateChange.id < oldest_kept
            )
        )
