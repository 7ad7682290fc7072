"""Forecasts read back: the latest forecast of a room metric, forecast against measured, and the
preventive actions a forecast calls for."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from app.core.db.models import Room, Site
from app.core.domain.timesteps import iso_ms
from app.core.storage.sql_schema import iaq_forecast

from ..rooms import room_row
from .base import BUCKET_MS, ForecastBase
from .preventive import PREVENTIVE_THRESHOLDS, crossing


class ForecastReads(ForecastBase):
    def _latest(self, room_id: int, metric: str) -> list[dict[str, Any]]:
        with self.sessions() as s:
            newest = s.scalar(
                select(iaq_forecast.c.issued_ms)
                .where(iaq_forecast.c.room_id == room_id, iaq_forecast.c.metric == metric)
                .order_by(iaq_forecast.c.issued_ms.desc())
                .limit(1)
            )
            if newest is None:
                return []
            rows = s.execute(
                select(iaq_forecast)
                .where(
                    iaq_forecast.c.room_id == room_id,
                    iaq_forecast.c.metric == metric,
                    iaq_forecast.c.issued_ms == newest,
                )
                .order_by(iaq_forecast.c.horizon_min)
            ).mappings()
            return [
                {
                    "horizon_min": r["horizon_min"],
                    "issued_at": iso_ms(r["issued_ms"]),
                    "timestamp": iso_ms(r["target_ms"]),
                    "target_ms": r["target_ms"],
                    "value": r["value"],
                    "low": r["low"],
                    "high": r["high"],
                    "model_type": r["model_type"],
                    "model_id": r["model_id"],
                }
                | ({"if_ventilated": r["if_ventilated"]} if r["if_ventilated"] is not None else {})
                for r in rows
            ]

    async def latest(self, room_id: int, metric: str = "co2") -> list[dict[str, Any]]:
        """The newest stored forecasts of a room metric, one per horizon."""
        return await asyncio.to_thread(self._latest, room_id, metric)

    def backtest_points(
        self, room_id: int, metric: str = "co2", horizon_min: int = 30, hours: float = 24
    ) -> list[tuple[int, float, float, float]]:
        """(time, measured, forecast made `horizon_min` earlier, persistence = measured `horizon_min`
        earlier) for the stored forecasts of the last `hours`, on one-minute means."""
        end_ms = int(time.time() * 1000) + 600_000
        start_ms = end_ms - int(hours * 3600_000) - horizon_min * 60_000
        measured = {
            b.ts_ms: b.stats[metric][0] / b.stats[metric][3]
            for b in self.store.query_buckets([room_id], start_ms, end_ms, BUCKET_MS, metrics=[metric])
            if metric in b.stats
        }
        with self.sessions() as s:
            rows = s.execute(
                select(iaq_forecast.c.target_ms, iaq_forecast.c.value)
                .where(
                    iaq_forecast.c.room_id == room_id,
                    iaq_forecast.c.metric == metric,
                    iaq_forecast.c.horizon_min == horizon_min,
                    iaq_forecast.c.target_ms >= start_ms,
                )
                .order_by(iaq_forecast.c.target_ms)
            ).all()
        out = []
        for target_ms, value in rows:
            bucket = target_ms - target_ms % BUCKET_MS
            before = bucket - horizon_min * 60_000
            if bucket in measured and before in measured:
                out.append((bucket, measured[bucket], value, measured[before]))
        return out

    def track_record(
        self, room_id: int, metric: str = "co2", horizon_min: int = 30, hours: float = 72
    ) -> dict[str, Any] | None:
        """How the room's forecasts `horizon_min` ahead fared over the last `hours` against what was then
        measured: their mean absolute error, persistence's, and the ratio (below 1: better than assuming
        the value stays as it is). None without forecasts that have come true."""
        points = self.backtest_points(room_id, metric, horizon_min, hours)
        if not points:
            return None
        mae = sum(abs(forecast - measured) for _, measured, forecast, _ in points) / len(points)
        persistence = sum(abs(before - measured) for _, measured, _, before in points) / len(points)
        return {
            "room_id": room_id,
            "metric": metric,
            "points": len(points),
            "mae": mae,
            "persistence_mae": persistence,
            "ratio": mae / persistence if persistence else None,
        }

    def _room_id(self, site: str, room: str) -> int:
        with self.sessions() as s:
            return room_row(s, site, room, Room.id, Site.id)[0]

    async def forecast_for(self, site: str, room: str, metric: str = "co2") -> dict[str, Any]:
        room_id = await asyncio.to_thread(self._room_id, site, room)
        return {
            "enseigne": site,
            "salle": room,
            "metric": metric,
            "forecasts": await self.latest(room_id, metric),
        }

    async def preventive_actions(self, site: str, room: str) -> dict[str, Any]:
        """`GET /api/predict/preventive-actions`: actions because a stored forecast crosses a threshold."""
        room_id = await asyncio.to_thread(self._room_id, site, room)
        actions = []
        for metric in PREVENTIVE_THRESHOLDS:
            forecasts = await self.latest(room_id, metric)
            if not forecasts:
                continue
            current = await asyncio.to_thread(self._current, room_id, metric)
            message = {
                "enseigne": site,
                "salle": room,
                "room_id": room_id,
                "metric": metric,
                "current": current,
            }
            message["forecasts"] = forecasts
            found = crossing(message)
            if found is not None:
                actions.append(found["action"])
        return {"enseigne": site, "salle": room, "actions": actions}

    def _current(self, room_id: int, metric: str) -> float | None:
        for latest in self.store.latest([room_id]):
            if latest.metric == metric:
                return latest.value
        return None
