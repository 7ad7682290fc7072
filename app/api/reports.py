"""`/api/reports/compliance`: a room's EN 16798-1 CO2 categories and WHO PM2.5 guideline over a period."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.api import answers as A
from app.runtime import Runtime
from services.compliance import report_csv

from .common import ReachDep

Site = Annotated[str, Query(min_length=1, description="site name")]
RoomName = Annotated[str, Query(min_length=1, description="room name")]
Day = Annotated[str | None, Query(description="local day of the site, e.g. 2026-11-01 (included)")]


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["reports"])

    @r.get("/api/reports/compliance", **A.compliance_answers())
    async def compliance(
        reach: ReachDep,
        enseigne: Site,
        salle: RoomName,
        start: Day = None,
        end: Day = None,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> dict[str, Any] | Response:
        """Share of the room's occupied time (its site's opening hours) in each EN 16798-1 CO2 category
        (I-IV, relative to the outdoor level of the room's score thresholds) and above the WHO 24-hour PM2.5
        guideline, over local days `start` to `end` (default: the last 7 days). `format=csv` downloads it."""
        reach.site(enseigne)
        report = await runtime.compliance.report(enseigne, salle, start, end)
        if format == "csv":
            name = f"compliance-{enseigne}-{salle}-{report['start']}-{report['end']}.csv".replace('"', "")
            return Response(
                report_csv(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return report

    return r
