"""`GET /api/iaq/data`: raw readings or aggregates over a time range, in the original product's shape, and
`GET /api/v2/iaq/data`, the same selection in IAQverse's envelope.

The original's clients read a JSON array of flat rows (`timestamp`, `enseigne`, `salle`, `sensor_id`, the
lower-case metrics, `global_score`, `global_level`; its dashboard draws nothing unless `Array.isArray`), so
that is what `/api/iaq/data` answers. The envelope (`count`, `truncated`, the aggregates' `stats`, the
store's word when part of the span is missing) is at `/api/v2/iaq/data` (docs/decisions.md, 2026-12-04).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.core.domain.metrics import CORE_METRICS, canonical_name
from app.core.domain.readings import FieldError, parse_timestamp
from app.core.domain.score import room_score
from app.core.domain.timesteps import format_step, iso_ms, parse_step
from app.runtime import Runtime
from services.query import AggregatePoint, RawPoint, Series

from .common import ReachDep

# the original's step names, besides IAQverse's own (5min, 1h, 1d...): 1min meant the raw readings
LEGACY_STEPS = {"daily": "1d", "weekly": "7d", "hourly": "1h"}


class Row(BaseModel):
    """One reading, or one step's means, as the original product's clients read them; any other metric a
    room's sensors send is a field too."""

    model_config = ConfigDict(extra="allow")
    timestamp: str = Field(description="ISO 8601, UTC (for aggregates: the step's start)")
    enseigne: str
    salle: str
    sensor_id: str | None = Field(None, description="raw readings only")
    co2: float | None = None
    pm25: float | None = None
    tvoc: float | None = None
    temperature: float | None = None
    humidity: float | None = None
    global_score: float | None = Field(None, description="the IAQ score of these values (0-100, 100 best)")
    global_level: str | None = Field(None, description="excellent, good, moderate, poor or bad")


class MetricStats(BaseModel):
    min: float
    max: float
    count: int


class EnvelopeRow(Row):
    stats: dict[str, MetricStats] | None = Field(
        None, description="aggregates: each metric's min, max, count"
    )


class Envelope(BaseModel):
    enseigne: str | None
    salle: str | None
    sensor_id: str | None
    start: str
    end: str
    raw: bool
    step: str | None = None
    count: int
    truncated: bool = False
    data: list[EnvelopeRow]
    pending: bool | None = Field(
        None, description="true when part of the span may be missing (InfluxDB down)"
    )
    storage: dict[str, Any] | None = None


def _time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        ts = parse_timestamp(float(value) if value.replace(".", "", 1).isdigit() else value)
    except ValueError as exc:
        raise FieldError(field, str(exc)).as_error() from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _step_s(step: str | None, raw: bool, *, legacy: bool) -> tuple[int | None, bool]:
    """(step in seconds, raw). On the original's path its step names hold: `1min` asked for the raw readings,
    `daily` and `weekly` for days and weeks."""
    if step is None:
        return None, raw
    if legacy and step.strip().lower() == "1min" and not raw:
        return None, True
    try:
        return parse_step(LEGACY_STEPS.get(step.strip().lower(), step) if legacy else step), raw
    except ValueError as exc:
        raise FieldError("step", str(exc)).as_error() from None


def _metrics(text: str | None) -> list[str] | None:
    if not text:
        return None
    wanted = []
    for name in text.split(","):
        canonical = canonical_name(name)
        if canonical is None:
            raise FieldError("metrics", f"{name!r} is not a metric name").as_error()
        wanted.append(canonical)
    return wanted


class Rows:
    """Typed points in the contract's shape, with each row's score from its room's thresholds."""

    def __init__(self, runtime: Runtime, *, stats: bool):
        self.thresholds = runtime.scoring.thresholds_for
        self.with_stats = stats

    def _scored(
        self, row: dict[str, Any], room_id: int, site: str, values: dict[str, float]
    ) -> dict[str, Any]:
        score = room_score(values, self.thresholds(room_id, site))
        row["global_score"] = score.score if score else None
        row["global_level"] = score.level if score else None
        return row

    def raw(self, p: RawPoint) -> dict[str, Any]:
        row = {"timestamp": iso_ms(p.ts_ms), "enseigne": p.site, "salle": p.room, "sensor_id": p.sensor_id}
        row.update(p.values)
        return self._scored(row, p.room_id, p.site, p.values)

    def aggregate(self, a: AggregatePoint) -> dict[str, Any]:
        means = {metric: round(s.mean, 4) for metric, s in a.stats.items()}
        row: dict[str, Any] = {"timestamp": iso_ms(a.ts_ms), "enseigne": a.site, "salle": a.room, **means}
        if self.with_stats:
            row["stats"] = {m: {"min": s.low, "max": s.high, "count": s.count} for m, s in a.stats.items()}
        return self._scored(row, a.room_id, a.site, means)

    def of(self, series: Series) -> list[dict[str, Any]]:
        return (
            [self.raw(p) for p in series.points]
            if series.raw
            else [self.aggregate(a) for a in series.aggregates]
        )


def envelope(series: Series, rows: list[dict[str, Any]], names: dict[str, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "enseigne": names["site"], "salle": names["room"], "sensor_id": names["sensor_id"],
        "start": iso_ms(series.start_ms), "end": iso_ms(series.end_ms), "raw": series.raw,
        "count": len(rows), "data": rows,
    }  # fmt: skip
    if series.raw:
        out["truncated"] = series.truncated
    else:
        out["step"] = format_step(series.step_s or 0)
    if series.storage:
        out["pending"], out["storage"] = True, series.storage
    return out


async def csv_chunks(pages: AsyncIterator[list], raw: bool, metrics: list[str] | None) -> AsyncIterator[str]:
    """The selection as CSV text, page by page (readings) or at once (aggregates: mean, min, max, count)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def take() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    names = list(metrics) if metrics else [*CORE_METRICS, "extra"] if raw else list(CORE_METRICS)
    if raw:
        writer.writerow(["timestamp", "enseigne", "salle", "sensor_id", *names])
    else:
        writer.writerow(["timestamp", "enseigne", "salle", *(f"{m}_{s}" for m in names for s in STATS)])
    yield take()
    async for page in pages:
        for p in page:
            if raw:
                cells = [p.values.get(c) for c in names]
                if not metrics:
                    extra = {k: v for k, v in p.values.items() if k not in CORE_METRICS}
                    cells[-1] = json.dumps(extra, separators=(",", ":")) if extra else None
                writer.writerow(_cells([iso_ms(p.ts_ms), p.site, p.room, p.sensor_id, *cells]))
            else:
                cells = []
                for m in names:
                    s = p.stats.get(m)
                    cells += [round(s.mean, 4), s.low, s.high, s.count] if s else [None, None, None, 0]
                writer.writerow(_cells([iso_ms(p.ts_ms), p.site, p.room, *cells]))
        yield take()


STATS = ("mean", "min", "max", "count")


def _cells(cells: list[Any]) -> list[Any]:
    return ["" if c is None else c for c in cells]


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["query"])

    async def answer(
        reach: ReachDep,
        enseigne,
        salle,
        sensor_id,
        start,
        end,
        hours,
        step,
        raw,
        metrics,
        limit,
        format,
        *,
        v2: bool,
    ) -> Any:
        step_s, raw = _step_s(step, raw, legacy=not v2)
        wanted = _metrics(metrics)
        selection = await reach.select(site=enseigne, room=salle, sensor_id=sensor_id)
        span = {"start": _time(start, "start"), "end": _time(end, "end"), "hours": hours, "step_s": step_s}
        if format == "csv":
            pages = runtime.query.pages(selection, **span, raw=raw, metrics=wanted)
            chunks = csv_chunks(pages, raw, wanted)
            first = await anext(chunks)  # the header; errors (bad range) come before streaming starts
            probe = await anext(chunks, None)

            async def body():
                yield first
                if probe is not None:
                    yield probe
                    async for chunk in chunks:
                        yield chunk

            name = "iaqverse-" + ("raw" if raw else "aggregated") + ".csv"
            return StreamingResponse(
                body(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        series = await runtime.query.data(selection, **span, raw=raw, metrics=wanted, limit=limit)
        rows = Rows(runtime, stats=v2).of(series)
        body = (
            envelope(series, rows, {"site": enseigne, "room": salle, "sensor_id": sensor_id}) if v2 else rows
        )
        # written directly: the response models document the shape; validating thousands of rows through them
        # would cost more than reading them
        return Response(orjson.dumps(body), media_type="application/json")

    parameters = """Readings of a site, a room or a sensor (all the account's sites without one), raw or per
    step. Aggregates are means per step (min, max and count in `/api/v2/iaq/data`); steps of whole days follow
    the room's local midnights. Timestamps are UTC."""

    @r.get("/api/iaq/data", response_model=list[Row], description=parameters)
    async def iaq_data(
        reach: ReachDep,
        enseigne: Annotated[str | None, Query(description="site name")] = None,
        salle: Annotated[str | None, Query(description="room name")] = None,
        sensor_id: Annotated[str | None, Query()] = None,
        start: Annotated[str | None, Query(description="ISO 8601 (UTC if no zone) or epoch seconds")] = None,
        end: Annotated[str | None, Query(description="exclusive; default now")] = None,
        hours: Annotated[float | None, Query(gt=0, le=24 * 3660, description="range ending at `end`")] = None,
        step: Annotated[str | None, Query(description="1min (raw), 5min, 1h, 1d, daily, weekly...")] = None,
        raw: Annotated[bool, Query(description="raw readings instead of aggregates")] = False,
        metrics: Annotated[str | None, Query(description="comma-separated metric names")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000, description="raw rows at most (JSON)")] = 10_000,
        format: Annotated[
            Literal["json", "csv"], Query(description="csv: streamed, any range, no row limit")
        ] = "json",
    ) -> Any:
        """The original product's answer: a JSON array of rows."""
        args = (enseigne, salle, sensor_id, start, end, hours, step, raw, metrics, limit, format)
        return await answer(reach, *args, v2=False)

    @r.get("/api/v2/iaq/data", response_model=Envelope, description=parameters)
    async def iaq_data_v2(
        reach: ReachDep,
        enseigne: Annotated[str | None, Query(description="site name")] = None,
        salle: Annotated[str | None, Query(description="room name")] = None,
        sensor_id: Annotated[str | None, Query()] = None,
        start: Annotated[str | None, Query(description="ISO 8601 (UTC if no zone) or epoch seconds")] = None,
        end: Annotated[str | None, Query(description="exclusive; default now")] = None,
        hours: Annotated[float | None, Query(gt=0, le=24 * 3660, description="range ending at `end`")] = None,
        step: Annotated[str | None, Query(description="5min, 1h, 1d...")] = None,
        raw: Annotated[bool, Query(description="raw readings instead of aggregates")] = False,
        metrics: Annotated[str | None, Query(description="comma-separated metric names")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000, description="raw rows at most (JSON)")] = 10_000,
        format: Annotated[
            Literal["json", "csv"], Query(description="csv: streamed, any range, no row limit")
        ] = "json",
    ) -> Any:
        """IAQverse's envelope: the rows with their aggregates' min, max and count, how many, whether cut."""
        args = (enseigne, salle, sensor_id, start, end, hours, step, raw, metrics, limit, format)
        return await answer(reach, *args, v2=True)

    return r
