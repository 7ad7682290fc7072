"""Modules and actions: the seed's `GET /api/room-modules`, `POST /api/execute-action`,
`GET /api/modules/states`, plus registering modules, the action history, proposals, automation settings and
measured air change rates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api import answers as A
from app.core.domain.readings import FieldError
from app.runtime import Runtime

from .common import ObjectId, ReachDep, actor, check_object_site, read_object
from .schemas import ActionBody, AutomationBody, ModuleBody, json_body

MAX_BODY_BYTES = 64 * 1024
Site = Annotated[str, Query(min_length=1, description="site name")]
RoomName = Annotated[str, Query(min_length=1, description="room name")]
ACTION_STATES = (
    "pending", "acknowledged", "failed", "superseded", "proposed", "confirmed", "dismissed", "reported",
)  # fmt: skip


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["modules"])
    modules, automation = runtime.modules, runtime.automation
    assert modules is not None and automation is not None

    @r.get("/api/room-modules", **A.answers(A.RoomModules))
    async def room_modules(enseigne: Site, salle: RoomName, reach: ReachDep) -> dict[str, Any]:
        """The room's modules with their state, availability, the actions each accepts and any pending
        command. 404 for an unknown site or room."""
        reach.site(enseigne)
        return await modules.room_modules(enseigne, salle)

    @r.post("/api/execute-action", **A.answers(A.Executed), openapi_extra=json_body(ActionBody))
    async def execute_action(request: Request, reach: ReachDep) -> dict[str, Any]:
        """Body: `enseigne, salle, module_type` (ventilation, purifier/purificateur, window/fenetre,
        cooling/clim, heating/radiateur), `action_type` (turn_on, turn_off, set_level, open, close,
        set_setpoint), optional `value`, `priority`, `reason {pollutant, value, level}`, `module` (a name) and
        `requested_by`. Answers with the recorded actions, `pending` until the device reports the new state.
        422 for an action the module cannot do, 404 for an unknown room or module."""
        body, who = await read_object(request, MAX_BODY_BYTES), actor(request)
        site = body.get("enseigne")
        reach.site(site if isinstance(site, str) else None)  # a site-limited operator acts on its sites
        named = body.get("requested_by")  # recorded, but never in place of who actually asked
        body["requested_by"] = f"{who} for {named}" if isinstance(named, str) and named else who
        return await modules.execute(body, requested_by=who, source="manual")

    @r.get("/api/modules/states", **A.answers(A.ModuleStates))
    async def states(
        reach: ReachDep,
        enseigne: Annotated[str | None, Query(description="site name; all sites when left out")] = None,
    ) -> dict[str, Any]:
        """`{site: {room: {module: {module_type, state, available, pending, changed_at, changed_by}}}}`."""
        return {"states": modules.states(await reach.select(site=enseigne))}

    @r.post("/api/modules", status_code=201, **A.answers(A.Module, 201), openapi_extra=json_body(ModuleBody))
    async def add_module(request: Request) -> dict[str, Any]:
        """Body: `enseigne, salle, module_type`, optional `name` (default: the type). Its MQTT topic follows
        the scheme of docs/mqtt.md. 409 if the room has a module of that name."""
        body = await read_object(request, MAX_BODY_BYTES)
        return await modules.add_module(
            body.get("enseigne"), body.get("salle"), body.get("module_type"), body.get("name")
        )

    @r.delete("/api/modules/{module_id}", **A.answers(A.DeletedObject))
    async def delete_module(module_id: ObjectId) -> dict[str, Any]:
        """Its action history goes with it."""
        return await modules.delete_module(module_id)

    @r.get("/api/modules/{module_id}/state-history", **A.answers(list[A.StateChange]))
    async def state_history(
        module_id: ObjectId, reach: ReachDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[dict[str, Any]]:
        """The module's state changes newest first (the registration's state, then each change a device
        reported), with the ventilation level each means (0 to 1, null for a module that does not ventilate):
        what forecasting learns the room's air change with and without ventilation from. 404 for an
        unknown module."""
        await reach.room(modules.module(module_id).room_id, f"module {module_id}")
        return await modules.state_changes(module_id, limit=limit)

    @r.get("/api/actions", **A.answers(list[A.Action]))
    async def actions(
        reach: ReachDep,
        enseigne: Annotated[str | None, Query(description="site name")] = None,
        salle: Annotated[str | None, Query(description="room name (with enseigne)")] = None,
        status: Annotated[str | None, Query(description=f"one of {', '.join(ACTION_STATES)}")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    ) -> list[dict[str, Any]]:
        """Actions newest first: who or what asked, why, when, the outcome, and for ventilation the air
        change rate measured after it."""
        if status is not None and status not in ACTION_STATES:
            raise FieldError("status", f"must be one of {list(ACTION_STATES)}").as_error()
        if salle and not enseigne:
            raise FieldError("enseigne", "required with salle").as_error()
        selection = await reach.select(site=enseigne, room=salle)
        return await modules.history(selection=selection, limit=limit, status=status)

    @r.post("/api/actions/{action_id}/confirm", **A.answers(A.Action))
    async def confirm(action_id: ObjectId, request: Request) -> dict[str, Any]:
        """Send a proposed action (automation's `recommend` mode), as the signed-in operator."""
        check_object_site(request, await modules.action_site(action_id), f"action {action_id}")
        return await modules.decide_proposal(action_id, True, actor(request))

    @r.post("/api/actions/{action_id}/dismiss", **A.answers(A.Action))
    async def dismiss(action_id: ObjectId, request: Request) -> dict[str, Any]:
        """Drop a proposed action, as the signed-in operator."""
        check_object_site(request, await modules.action_site(action_id), f"action {action_id}")
        return await modules.decide_proposal(action_id, False, actor(request))

    @r.get("/api/automation", **A.answers(A.Automation))
    async def get_automation(enseigne: Site, salle: RoomName, reach: ReachDep) -> dict[str, Any]:
        """The room's automation: `mode` (off, recommend, auto) and its limits and thresholds."""
        reach.site(enseigne)
        room_id = await modules.room_id(enseigne, salle)
        return {"enseigne": enseigne, "salle": salle, **automation.room_settings(room_id)}

    @r.put("/api/automation", **A.answers(A.Automation), openapi_extra=json_body(AutomationBody))
    async def put_automation(
        enseigne: Site, salle: RoomName, request: Request, reach: ReachDep
    ) -> dict[str, Any]:
        """Body: any of `mode, min_on_s, cooldown_s, daily_budget, manual_hold_s, co2_on_ppm, co2_off_ppm,
        pm25_on_ugm3, pm25_off_ugm3`. 422 names the invalid field; nothing is changed then."""
        reach.site(enseigne)
        room_id = await modules.room_id(enseigne, salle)
        settings = await automation.set_room_settings(room_id, await read_object(request, MAX_BODY_BYTES))
        return {"enseigne": enseigne, "salle": salle, **settings}

    @r.get("/api/air-change-rates", **A.answers(list[A.AirChangeRate]))
    async def air_change_rates(reach: ReachDep) -> list[dict[str, Any]]:
        """Each room's latest air change rate (per hour) measured from a CO2 decay after ventilation."""
        rates = await modules.air_change_rates()
        selection = await reach.select()
        rooms = {m.room_id: m for m in modules.modules() if selection.allows(m.room_id)}
        return [
            {"enseigne": rooms[room_id].site, "salle": rooms[room_id].room, "room_id": room_id,
             "ach_per_h": ach, "r2": r2}
            for room_id, (ach, r2, _ts) in rates.items()
            if room_id in rooms
        ]  # fmt: skip

    return r
