"""`/api/alerts` (list, one with its history, acknowledge, resolve) and `/api/alert-rules` (CRUD)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api import answers as A
from app.core.domain.readings import FieldError
from app.core.domain.timesteps import to_ms
from app.runtime import Runtime

from .common import ObjectId, ReachDep, actor, check_object_site, on_behalf, read_object
from .schemas import ByBody, RuleBody, RulePatch, SnoozeBody, json_body

MAX_BODY_BYTES = 64 * 1024


def parse_since(text: str | None) -> int | None:
    """ISO 8601 (`2026-11-27T10:00:00Z`; without a zone: UTC) -> ms since the epoch."""
    if text is None or text == "":
        return None
    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        problem = "must be an ISO 8601 time such as 2026-11-27T10:00:00Z"
        raise FieldError("since", problem).as_error() from None
    return to_ms(ts if ts.tzinfo else ts.replace(tzinfo=UTC))


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["alerts"])
    alerting = runtime.alerting

    @r.get("/api/alerts", **A.answers(list[A.Alert]))
    async def list_alerts(
        reach: ReachDep,
        state: Annotated[str | None, Query(description="active, acknowledged, resolved, or open")] = None,
        enseigne: Annotated[str | None, Query(description="site name")] = None,
        salle: Annotated[str | None, Query(description="room name")] = None,
        since: Annotated[str | None, Query(description="raised at or after (ISO 8601)")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:
        """Alerts, open ones (active, acknowledged) first, then newest first."""
        since_ms = parse_since(since)
        selection = await reach.select(site=enseigne, room=salle)
        return await alerting.list_alerts(selection, state=state, since_ms=since_ms, limit=limit)

    @r.get("/api/alerts/{alert_id}", **A.answers(A.Alert))
    async def get_alert(alert_id: ObjectId, reach: ReachDep) -> dict[str, Any]:
        """One alert with its history (raised, acknowledged, resolved) and its notification attempts."""
        alert = await alerting.get_alert(alert_id)
        await reach.room(alert["room_id"], f"alert {alert_id}")
        return alert

    async def operator(alert_id: ObjectId, request: Request) -> tuple[str, Any, dict[str, Any]]:
        """Who acts (the signed-in account, "for" the body's optional `by`), the comment and the whole body,
        once the account may act on the alert's site."""
        body = await read_object(request, MAX_BODY_BYTES)
        by = on_behalf(actor(request), body.get("by"))
        principal = getattr(request.state, "principal", None)
        if principal is not None and principal.scoped:
            check_object_site(request, (await alerting.get_alert(alert_id))["enseigne"], f"alert {alert_id}")
        return by, body.get("comment"), body

    @r.post("/api/alerts/{alert_id}/acknowledge", **A.answers(A.Alert), openapi_extra=json_body(ByBody))
    async def acknowledge(alert_id: ObjectId, request: Request) -> dict[str, Any]:
        """Body: `{"comment": "optional", "by": "optional"}`. Recorded as done by the signed-in account (a
        `by` is kept as "<account> for <by>"). 409 if it is acknowledged or resolved already."""
        by, comment, _ = await operator(alert_id, request)
        return await alerting.acknowledge(alert_id, by, comment)

    @r.post("/api/alerts/{alert_id}/resolve", **A.answers(A.Alert), openapi_extra=json_body(ByBody))
    async def resolve(alert_id: ObjectId, request: Request) -> dict[str, Any]:
        """Body as for acknowledge. Closes the alert by hand; a condition that persists raises a new one
        after the rule's cooldown and duration."""
        by, comment, _ = await operator(alert_id, request)
        return await alerting.resolve(alert_id, by, comment)

    @r.post("/api/alerts/{alert_id}/snooze", **A.answers(A.Alert), openapi_extra=json_body(SnoozeBody))
    async def snooze(alert_id: ObjectId, request: Request) -> dict[str, Any]:
        """Body: `{"minutes": 60, "comment": "optional"}`. The alert stays open and in the history; the
        pages' count of open alerts leaves it out until then. 0 ends a snooze; 409 if it is resolved."""
        by, comment, body = await operator(alert_id, request)
        return await alerting.snooze(alert_id, body.get("minutes"), by, comment)

    @r.get("/api/alert-rules", **A.answers(list[A.AlertRule]))
    async def list_rules() -> list[dict[str, Any]]:
        return await alerting.list_rules()

    @r.post(
        "/api/alert-rules", status_code=201, **A.answers(A.AlertRule, 201), openapi_extra=json_body(RuleBody)
    )
    async def create_rule(request: Request) -> dict[str, Any]:
        """Body: `name`, `metric` (co2, pm25, pm10, tvoc, temperature, humidity, offline), `direction`
        (above, below), `trigger`, `reset`, `duration_s`, `cooldown_s`, `severity` (info, warning, critical),
        optional `site_id` or `room_id` (else global), `only_open_hours`, `enabled`, `description`.
        422 names each invalid field."""
        return await alerting.create_rule(await read_object(request, MAX_BODY_BYTES))

    @r.get("/api/alert-rules/{rule_id}", **A.answers(A.AlertRule))
    async def get_rule(rule_id: ObjectId) -> dict[str, Any]:
        return await alerting.get_rule(rule_id)

    @r.patch("/api/alert-rules/{rule_id}", **A.answers(A.AlertRule), openapi_extra=json_body(RulePatch))
    async def update_rule(rule_id: ObjectId, request: Request) -> dict[str, Any]:
        """Change some fields; the rule is checked whole."""
        return await alerting.update_rule(rule_id, await read_object(request, MAX_BODY_BYTES))

    @r.delete("/api/alert-rules/{rule_id}", **A.answers(A.DeletedObject))
    async def delete_rule(rule_id: ObjectId) -> dict[str, Any]:
        """Its open alerts are resolved; its alerts stay in the history."""
        return await alerting.delete_rule(rule_id)

    return r
