"""`GET /api/predict/score` (the original product's contract) and its history; the score's threshold
overrides under `/api/config/.../score-thresholds`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api import answers as A
from app.runtime import Runtime

from .common import ObjectId, ReachDep, read_json
from .schemas import ThresholdsBody, json_body

MAX_THRESHOLDS_BYTES = 64 * 1024
Site = Annotated[str, Query(min_length=1, description="site name")]
RoomName = Annotated[str, Query(min_length=1, description="room name")]


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter()
    scoring = runtime.scoring

    @r.get("/api/predict/score", tags=["score"], **A.answers(A.Score))
    async def score(enseigne: Site, salle: RoomName, reach: ReachDep) -> dict[str, Any]:
        """The room's IAQ score now (0-100, 100 best), its level, the metric that drives it (the lowest
        sub-score), every sub-score and the reference behind each scale. A metric whose latest value is
        older than the stale limit is left out and listed in `stale_metrics`; with no recent value at all
        `score` is null."""
        reach.site(enseigne)
        return await scoring.current(enseigne, salle)

    @r.get("/api/predict/score/history", tags=["score"], **A.answers(A.ScoreHistory))
    async def score_history(
        reach: ReachDep,
        enseigne: Site,
        salle: RoomName,
        hours: Annotated[float, Query(gt=0, le=24 * 31, description="range ending now")] = 24,
    ) -> dict[str, Any]:
        """Stored scores (`iaq_scores`, at most one per room and minute of readings), oldest first."""
        reach.site(enseigne)
        return await scoring.history(enseigne, salle, hours)

    @r.get("/api/config/sites/{site_id}/score-thresholds", tags=["config"], **A.answers(A.SiteThresholds))
    async def get_site_thresholds(site_id: ObjectId) -> dict[str, Any]:
        """The site's override and the thresholds in force for its rooms (`effective`)."""
        return await scoring.site_thresholds(site_id)

    @r.put(
        "/api/config/sites/{site_id}/score-thresholds",
        tags=["config"],
        openapi_extra=json_body(ThresholdsBody),
        **A.answers(A.SiteThresholds),
    )
    async def put_site_thresholds(site_id: ObjectId, request: Request) -> dict[str, Any]:
        """Body: any part of `effective`, e.g. `{"outdoor_co2_ppm": 450, "co2": {"high": [0, 500, 750,
        1200, 1580, 4580]}}`; each list holds the 6 values where the sub-score reaches 100, 80, 60, 40, 20
        and 0. `{}` or `null` clears the override. 422 names the invalid field."""
        return await scoring.set_site_thresholds(site_id, await read_json(request, MAX_THRESHOLDS_BYTES))

    @r.get("/api/config/rooms/{room_id}/score-thresholds", tags=["config"], **A.answers(A.RoomThresholds))
    async def get_room_thresholds(room_id: ObjectId) -> dict[str, Any]:
        return await scoring.room_thresholds(room_id)

    @r.put(
        "/api/config/rooms/{room_id}/score-thresholds",
        tags=["config"],
        openapi_extra=json_body(ThresholdsBody),
        **A.answers(A.RoomThresholds),
    )
    async def put_room_thresholds(room_id: ObjectId, request: Request) -> dict[str, Any]:
        """As for a site; the room's override applies over its site's."""
        return await scoring.set_room_thresholds(room_id, await read_json(request, MAX_THRESHOLDS_BYTES))

    return r
