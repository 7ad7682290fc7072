"""`/api/models/*` (the seed's registry contract, plus activate, rollback and train) and the forecasts:
`/api/predict/forecast` and `/api/predict/preventive-actions`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api import answers as A
from app.core.domain.readings import FieldError
from app.runtime import Runtime

from .common import ObjectId, ReachDep, read_json
from .schemas import ModelBody, json_body

MAX_BODY_BYTES = 64 * 1024
Site = Annotated[str, Query(min_length=1, description="site name")]
RoomName = Annotated[str, Query(min_length=1, description="room name")]
METRICS = ("co2", "pm25", "tvoc", "temperature", "humidity")


def _metric(value: str) -> str:
    if value not in METRICS:
        raise FieldError("metric", f"must be one of {', '.join(METRICS)}").as_error()
    return value


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter()
    registry, forecasting = runtime.registry, runtime.forecasting

    @r.post(
        "/api/models/register",
        tags=["models"],
        status_code=201,
        **A.answers(A.MlModel, 201),
        openapi_extra=json_body(ModelBody),
    )
    async def register(request: Request) -> dict[str, Any]:
        """Body: `model_name`, `model_version`, `model_type` (required), `model_path`, `checksum`, `metric`,
        `room_id`, `parameters`, `metrics`, `set_active`. 409 when the name already has that version."""
        body = await read_json(request, MAX_BODY_BYTES)
        return await asyncio.to_thread(registry.register, body, by="api")

    @r.get("/api/models/list", tags=["models"], **A.answers(list[A.MlModel]))
    async def list_models(
        model_name: Annotated[str | None, Query(description="one model name")] = None,
        status: Annotated[str | None, Query(description="candidate, active or retired")] = None,
    ) -> list[dict[str, Any]]:
        """Registered versions, newest first within each name."""
        return await asyncio.to_thread(registry.list, model_name, status)

    @r.get("/api/models/training-history", tags=["models"], **A.answers(list[A.TrainingRun]))
    async def training_history(
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
        model_name: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """Training runs, newest first: trigger, duration, data size, outcome, error."""
        return await asyncio.to_thread(registry.training_history, limit, model_name)

    @r.get("/api/models/{model_id}", tags=["models"], **A.answers(A.MlModel))
    async def get_model(model_id: ObjectId) -> dict[str, Any]:
        return await asyncio.to_thread(registry.get, model_id)

    @r.post("/api/models/{model_id}/activate", tags=["models"], **A.answers(A.MlModel))
    async def activate(model_id: ObjectId) -> dict[str, Any]:
        """Make this version the active one of its name (the previous one is retired)."""
        return await asyncio.to_thread(registry.activate, model_id, by="api")

    @r.post("/api/models/rollback", tags=["models"], **A.answers(A.MlModel))
    async def rollback(model_name: Annotated[str, Query(min_length=1)]) -> dict[str, Any]:
        """Put back the version that was active before the current one; 409 if there is none."""
        return await asyncio.to_thread(registry.rollback, model_name, by="api")

    @r.post("/api/models/train", tags=["models"], **A.answers(A.TrainingRun))
    async def train(
        enseigne: Site, salle: RoomName, metric: Annotated[str, Query()] = "co2"
    ) -> dict[str, Any]:
        """Train the room metric's model now (in a worker process) and return the training run; the new
        version is activated only if it beats persistence and the active version on the backtest."""
        room_id = await asyncio.to_thread(forecasting._room_id, enseigne, salle)
        return await forecasting.train_room(room_id, _metric(metric), trigger="api")

    @r.get("/api/predict/forecast", tags=["forecast"], **A.answers(A.Forecasts))
    async def forecast(
        enseigne: Site, salle: RoomName, reach: ReachDep, metric: Annotated[str, Query()] = "co2"
    ) -> dict[str, Any]:
        """The newest stored forecasts of the room metric, 5 to 60 minutes ahead, with 80 % intervals."""
        reach.site(enseigne)
        return await forecasting.forecast_for(enseigne, salle, _metric(metric))

    @r.get("/api/predict/preventive-actions", tags=["forecast"], **A.answers(A.PreventiveActions))
    async def preventive_actions(enseigne: Site, salle: RoomName, reach: ReachDep) -> dict[str, Any]:
        """Actions recommended because a forecast crosses a threshold while the room is still below it:
        metric, expected time of crossing, confidence, module type and action."""
        reach.site(enseigne)
        return await forecasting.preventive_actions(enseigne, salle)

    return r
