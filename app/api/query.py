"""`GET /api/iaq/data`: raw readings or aggregates over a time range, as in the original product."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.core.domain.metrics import canonical_name
from app.core.domain.readings import FieldError, parse_timestamp
from app.core.domain.timesteps import parse_step
from app.runtime import Runtime

from .common import ReachDep


def _time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        ts = parse_timestamp(float(value) if value.replace(".", "", 1).isdigit() else value)
    except ValueError as exc:
        raise FieldError(field, str(exc)).as_error() from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["query"])

    @r.get("/api/iaq/data")
    async def iaq_data(
        reach: ReachDep,
        enseigne: Annotated[str | None, Query(description="site name")] = None,
        salle: Annotated[str | None, Query(description="room name")] = None,
        sensor_id: Annotated[str | None, Query()] = None,
        start: Annotated[str | None, Query(description="ISO 8601 (UTC if no zone) or epoch seconds")] = None,
        end: Annotated[str | None, Query(description="exclusive; default now")] = None,
        hours: Annotated[float | None, Query(gt=0, le=24 * 3660, description="range ending at `end`")] = None,
        step: Annotated[str | None, Query(description="aggregation step: 1min, 5min, 1h, 1d...")] = None,
        raw: Annotated[bool, Query(description="raw readings instead of aggregates")] = False,
        metrics: Annotated[str | None, Query(description="comma-separated metric names")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000, description="raw rows at most (JSON)")] = 10_000,
        format: Annotated[
            Literal["json", "csv"], Query(description="csv: streamed, any range, no row limit")
        ] = "json",
    ) -> Any:
        """Readings of a site, a room or a sensor. Aggregates are mean, min, max and count per step;
        steps of whole days follow the room's local midnights. Timestamps are UTC."""
        step_s = None
        if step is not None:
            try:
                step_s = parse_step(step)
            except ValueError as exc:
                raise FieldError("step", str(exc)).as_error() from None
        wanted = None
        if metrics:
            wanted = []
            for name in metrics.split(","):
                canonical = canonical_name(name)
                if canonical is None:
                    raise FieldError("metrics", f"{name!r} is not a metric name").as_error()
                wanted.append(canonical)
        selection = await reach.select(site=enseigne, room=salle, sensor_id=sensor_id)
        span = {
            "start": _time(start, "start"),
            "end": _time(end, "end"),
            "hours": hours,
            "step_s": step_s,
            "raw": raw,
            "metrics": wanted,
        }
        if format == "csv":
            chunks = runtime.query.csv(selection, **span)
            first = await anext(chunks)  # errors (unknown site, bad range) become 4xx before streaming starts

            async def body():
                yield first
                async for chunk in chunks:
                    yield chunk

            name = "iaqverse-" + ("raw" if raw else "aggregated") + ".csv"
            return StreamingResponse(
                body(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        named = {"site": enseigne, "room": salle, "sensor_id": sensor_id}
        return await runtime.query.data(selection, **named, **span, limit=limit)

    return r
