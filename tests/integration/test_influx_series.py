"""Scores, forecasts and module actions reach InfluxDB (`iaq_scores`, `iaq_forecast`, `iaq_actions`) with the
seed's tags, through the series outbox, also across an outage of a real `influxd` (started by the tests). The
runtime runs in this process (database, ingestion, bus, drainer, simulated devices) without a web server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.core.settings import Settings
from app.core.storage.influx_http import literal
from app.core.storage.sql_schema import iaq_forecast, iaq_scores
from app.runtime import Runtime, build_runtime
from tests.support.influx import InfluxServer, influx_server

SITE, ROOM = "Maison", "Bureau d'été"


@pytest.fixture(scope="module")
def influxd():
    with influx_server() as server:
        yield server


async def until(condition: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    """Wait (a bound, not a measurement) until `condition()` is truthy; fail saying what did not happen."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s} s"
        await asyncio.sleep(0.1)


def make_runtime(data_dir: Path, server: InfluxServer, db: str) -> Runtime:
    settings = Settings(
        data_dir=data_dir,
        influxdb_url=server.url,
        influxdb_bucket=db,
        outbox_backoff_max_s=0.5,
        score_interval_s=60,
        simulated_device_delay_s=0,
        forecasting_enabled=False,  # no trainer or predictor worker: the test asks for a forecast itself
        ml_process_pool=False,
        alerts_enabled=False,
    )
    runtime = build_runtime(settings)
    runtime.start()
    return runtime


def points(server: InfluxServer, db: str, measurement: str) -> list[dict]:
    try:
        return server.points(db, measurement)
    except (httpx.HTTPError, AssertionError):  # influxd down, or the database not created yet
        return []


async def score_forecast_and_action(rt: Runtime) -> dict:
    """Readings (a score per 60 s of reading time), an executed ventilation action acknowledged by its
    simulated device, and a forecast (persistence: the registered artifact does not exist)."""
    start = datetime.now(UTC) - timedelta(minutes=30)
    for minute in range(31):
        when = (start + timedelta(minutes=minute)).isoformat()
        answer = await rt.ingestion.ingest(
            {"sensor_id": "s-1", "enseigne": SITE, "salle": ROOM, "timestamp": when,
             "values": {"co2": 600.0 + 10 * minute, "pm25": 8}}
        )  # fmt: skip
        assert answer.stored == 1, answer

    async def scored() -> bool:
        await rt.scoring.flush()  # what the recorder collected, now rather than at the writer's next turn
        return sql_count(rt, iaq_scores) >= 1

    deadline = time.monotonic() + 30
    while not await scored():
        assert time.monotonic() < deadline, "no score was stored"
        await asyncio.sleep(0.1)

    module = await rt.modules.add_module(SITE, ROOM, "ventilation")
    done = await rt.modules.execute(
        {"enseigne": SITE, "salle": ROOM, "module_type": "ventilation", "action_type": "turn_on",
         "priority": "high", "reason": {"pollutant": "co2"}}
    )  # fmt: skip
    action_id = done["actions"][0]["id"]

    async def acknowledged() -> bool:
        actions = await rt.modules.history(SITE, ROOM, limit=10)
        return any(a["id"] == action_id and a["status"] == "acknowledged" for a in actions)

    deadline = time.monotonic() + 30
    while not await acknowledged():
        assert time.monotonic() < deadline, "the simulated device did not acknowledge the command"
        await asyncio.sleep(0.05)

    rt.registry.register(
        {"model_name": "co2/series", "model_version": "1", "model_type": "mass_balance",
         "model_path": "/nonexistent/model.joblib", "metric": "co2", "room_id": module["room_id"],
         "set_active": True}
    )  # fmt: skip
    messages = await rt.forecasting.predict_all()
    assert messages and messages[0]["forecasts"], messages
    return {"action_id": action_id, "room_id": module["room_id"]}


def sql_count(rt: Runtime, table) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def check_series(server: InfluxServer, db: str, rt: Runtime, made: dict) -> None:
    """What InfluxDB holds: every stored score and forecast once, the action's acknowledgement, with the
    seed's tags and float fields."""
    tags = {"enseigne": SITE, "salle": ROOM, "room_id": str(made["room_id"])}

    scores = points(server, db, "iaq_scores")
    assert len(scores) == sql_count(rt, iaq_scores) >= 1
    for p in scores:
        assert {k: p[k] for k in tags} == tags
        assert 0 <= p["score"] <= 100 and p["level"] and p["driver"]

    forecasts = points(server, db, "iaq_forecast")
    assert len(forecasts) == sql_count(rt, iaq_forecast) >= 4
    assert sorted(int(p["horizon_min"]) for p in forecasts) == [5, 15, 30, 60]
    for p in forecasts:
        assert {k: p[k] for k in tags} == tags and p["metric"] == "co2" and p["model_type"] == "persistence"
        assert p["low"] <= p["value"] <= p["high"] and p["issued_ms"] < p["time"]

    actions = points(server, db, "iaq_actions")
    (ack,) = [p for p in actions if p["status"] == "acknowledged"]
    assert {k: ack[k] for k in tags} == tags
    assert (ack["priority"], ack["module_type"], ack["action_type"]) == ("high", "ventilation", "turn_on")
    assert ack["action_id"] == float(made["action_id"]) and ack["source"] == "api"
    for measurement in ("iaq_scores", "iaq_forecast", "iaq_actions"):  # fields are floats, always
        (keys,) = server.query(f"SHOW FIELD KEYS FROM {measurement}", db)
        assert {kind for _, kind in keys["values"]} == {"float"}, keys
    # the InfluxQL the seed's dashboards would run: one room's actions by the contract's tags
    selected = server.query(
        f"SELECT action_id FROM iaq_actions WHERE enseigne = {literal(SITE)} AND salle = {literal(ROOM)} "
        "AND priority = 'high' AND module_type = 'ventilation'",
        db,
    )
    assert float(made["action_id"]) in [row[1] for s in selected for row in s["values"]]


async def test_scores_forecasts_and_actions_reach_influxdb_with_the_seeds_tags(influxd, tmp_path):
    rt = make_runtime(tmp_path / "data", influxd, "series")
    try:
        made = await score_forecast_and_action(rt)
        await until(
            lambda: rt.store.series.count_waiting() == 0 and points(influxd, "series", "iaq_forecast"),
            "the series outbox emptied into InfluxDB",
        )
        check_series(influxd, "series", rt, made)
        # a deleted room takes its points of every measurement with it (its id may be given to a new room)
        await rt.config.delete_room(made["room_id"], cascade=True)
        for measurement in ("iaq_raw", "iaq_scores", "iaq_forecast", "iaq_actions"):
            assert points(influxd, "series", measurement) == [], measurement
    finally:
        await rt.stop()


async def test_during_an_outage_they_wait_in_the_outbox_and_arrive_when_influxdb_returns(influxd, tmp_path):
    rt = make_runtime(tmp_path / "data", influxd, "series_outage")
    try:
        await until(lambda: rt.store.reachable and rt.drainer._database_ready, "InfluxDB ready")
        influxd.stop()
        try:
            made = await score_forecast_and_action(rt)
            await until(lambda: not rt.store.reachable, "the drainer noticing the outage")
            storage = rt.health.storage()
            assert storage["status"] == "degraded"
            waiting = rt.store.series.count_waiting()
            # every score, every forecast and each state of the action (pending, acknowledged) waits
            assert waiting >= sql_count(rt, iaq_scores) + sql_count(rt, iaq_forecast) + 2
            assert storage["series_waiting"] >= 1
        finally:
            influxd.start()
        await until(lambda: rt.store.series.count_waiting() == 0, "the series outbox drained", timeout_s=90)
        check_series(influxd, "series_outage", rt, made)
    finally:
        await rt.stop()


async def test_points_waiting_when_the_platform_stops_are_sent_after_it_starts_again(influxd, tmp_path):
    influxd.stop()
    try:
        rt = make_runtime(tmp_path / "data", influxd, "series_restart")
        try:
            made = await score_forecast_and_action(rt)
            assert rt.store.series.count_waiting() >= 2
        finally:
            await rt.stop()
    finally:
        influxd.start()
    rt = make_runtime(tmp_path / "data", influxd, "series_restart")
    try:
        await until(lambda: rt.store.series.count_waiting() == 0, "the series outbox drained", timeout_s=90)
        check_series(influxd, "series_restart", rt, made)
    finally:
        await rt.stop()
