"""The Models page and the room view's forecast, with NiceGUI's `user` fixture."""

from __future__ import annotations

import time

import pytest
from nicegui.testing import User

from components.charts import SeriesChart
from tests.support.data import office_day
from tests.support.pages import room_id
from tests.support.waiting import eventually


async def office_history(runtime, room: str, days: float = 2) -> int:
    batch = [
        {"sensor_id": f"s-{room}", "enseigne": "Maison", "salle": room, "timestamp": t, "values": {"co2": v}}
        for t, v in office_day(time.time(), days=days)
    ]
    for start in range(0, len(batch), 2000):
        await runtime.ingestion.ingest(batch[start : start + 2000])
    return await room_id(runtime, room)


async def test_models_page_lists_versions_and_trains_on_demand(user: User, runtime) -> None:
    runtime.forecasting.use_process_pool = False  # the worker process is covered by the API tests
    runtime.registry.add(name="co2_predictor", version="1.0.0", model_type="RandomForest", activate_by="api")
    await office_history(runtime, "Bureau", days=1)
    await user.open("/models")
    table = user.find(marker="models-table").elements.pop()
    assert [(r["model_name"], r["model_type"], r["status"]) for r in table.rows] == [
        ("co2_predictor", "RandomForest", "active")
    ]

    user.find(marker="train-now").click()
    status = user.find(marker="train-status").elements.pop()
    await eventually(lambda: status.text == "Training promoted", timeout_s=600)
    await eventually(lambda: "co2_predictor/Maison/Bureau" in {r["model_name"] for r in table.rows})
    runs = user.find(marker="runs-table").elements.pop()
    assert [r["outcome"] for r in runs.rows] == ["promoted"]
    # the new model's forecasts since the end of the span it was fitted on (the last 20 % of the day, so
    # none in-sample) were back-filled every 30 minutes: the comparison is there at once
    rid = await room_id(runtime, "Bureau")
    points = runtime.forecasting.backtest_points(rid, "co2")
    assert len(points) >= 5 and points[0][0] > (time.time() - 0.25 * 86400) * 1000
    chart = user.find(marker="backtest-chart").elements.pop()
    await eventually(lambda: bool(chart.figure["data"]) and len(chart.figure["data"][1]["y"]) >= 5)
    track = user.find(marker="track-record").elements.pop()
    await eventually(lambda: [r["room"] for r in track.rows] == ["Maison / Bureau"])
    record = runtime.forecasting.track_record(rid, "co2")
    assert record["points"] >= 5 and record["ratio"] == record["mae"] / record["persistence_mae"]
    assert track.rows[0]["ratio"].startswith(f"{record['ratio']:.2f}")
    assert runtime.registry.training_history(1)[0]["outcome"] == "promoted"
    audit = [(e.actor, e.action, e.target) for e in await runtime.accounts.audit_log(5)]
    assert ("admin", "training started", "Maison / Bureau: co2") in audit


async def test_the_room_view_shows_the_forecast_with_its_interval(user: User, runtime) -> None:
    runtime.forecasting.use_process_pool = False
    # a week and a day: forecasters tell weekdays from weekends, so two days of history before a Monday
    # (a weekend) taught them nothing of a weekday's occupancy, and the test failed on Mondays
    rid = await office_history(runtime, "Salon", days=8)
    run = await runtime.forecasting.train_room(rid, "co2")
    assert run["outcome"] == "promoted", run["error"]
    crossings: list[dict] = []
    runtime.bus.forecast_crossings.subscribe(crossings.append)
    await runtime.forecasting.predict_all()
    # what automation receives: the room fills up, CO2 will pass 1000 ppm within the hour
    await eventually(lambda: len(crossings) == 1)
    event = crossings[0]
    assert (event["type"], event["room_id"], event["metric"], event["threshold"]) == (
        "threshold_crossing",
        rid,
        "co2",
        1000.0,
    )
    assert event["current"] < 1000 < event["forecast"] and event["within_min"] in (5, 15, 30, 60)
    assert event["action"]["module_type"] == "ventilation" and event["action"]["action_type"] == "turn_on"
    await user.open(f"/rooms/{rid}")
    chart = next(iter(user.find(SeriesChart).elements))
    await eventually(lambda: chart.forecast_count == 4)
    names = [trace["name"] for trace in chart.figure["data"]]
    assert {"forecast", "forecast low", "forecast high"} <= set(names)
    # the band stays inside physics: never below the outdoor level (the room's baseline is 420 ppm, ±4)
    low = next(trace for trace in chart.figure["data"] if trace["name"] == "forecast low")
    assert min(low["y"]) >= 400


async def test_activating_a_model_worse_than_persistence_asks_first(user: User, runtime) -> None:
    rid = await office_history(runtime, "Bureau", days=0.1)
    worse = runtime.registry.add(
        name="co2_predictor/Maison/Bureau", version="2", model_type="Ridge", room_id=rid,
        metric="co2", metrics={"mae": 56.0, "mae_ratio": 2.8},
    )  # fmt: skip
    await user.open("/models")
    await user.should_see(marker="backtest-empty")  # no forecast yet: it says why, not an empty chart
    table = user.find(marker="models-table").elements.pop()
    table.selected = [next(r for r in table.rows if r["id"] == worse["id"])]
    user.find(marker="activate").click()
    await user.should_see("its error is 2.8× that of persistence")
    user.find(marker="cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    assert runtime.registry.get(worse["id"])["status"] == "candidate"
    table.selected = [next(r for r in table.rows if r["id"] == worse["id"])]
    user.find(marker="activate").click()
    await user.should_see(marker="confirm-dialog")
    user.find(marker="confirm").click()
    await user.should_see("co2_predictor/Maison/Bureau 2 is active")
    assert runtime.registry.get(worse["id"])["status"] == "active"
    audit = [(e.action, e.target) for e in await runtime.accounts.audit_log(5)]
    assert ("model activated", "co2_predictor/Maison/Bureau 2") in audit


async def test_a_room_with_only_a_candidate_model_is_forecast_with_persistence(user: User, runtime) -> None:
    rid = await office_history(runtime, "Bureau", days=0.2)
    runtime.registry.add(
        name="co2_predictor/Maison/Bureau",
        version="1",
        model_type="Ridge",
        room_id=rid,
        metric="co2",
        metrics={"mae": 56.0, "mae_ratio": 1.3},
    )  # fmt: skip  (a candidate that did not beat persistence: never activated)
    messages = await runtime.forecasting.predict_all()
    (message,) = [m for m in messages if m["room_id"] == rid]
    assert message["fallback"] is True
    assert {f["model_type"] for f in message["forecasts"]} == {"persistence"}
    assert message["forecasts"][0]["value"] == pytest.approx(message["current"], abs=1)
