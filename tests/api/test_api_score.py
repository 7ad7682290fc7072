"""GET /api/predict/score, its history, and the threshold overrides, against a real server."""

from __future__ import annotations

import time

import pytest

from app.core.domain.score import room_score
from tests.support.servers import platform

GOOD = {"co2": 600, "pm25": 3, "tvoc": 100, "temperature": 22, "humidity": 45}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with platform(tmp_path_factory.mktemp("score") / "data") as srv:
        yield srv


def send(api, site: str, room: str, *, ago_s: float = 0, sensor: str | None = None, **values: float) -> None:
    reading = {
        "sensor_id": sensor or f"{site}-{room}",
        "enseigne": site,
        "salle": room,
        "timestamp": time.time() - ago_s,
        "values": values,
    }
    assert api.post("/api/ingest", json=reading).status_code == 200


def score(api, site: str, room: str) -> dict:
    answer = api.get("/api/predict/score", params={"enseigne": site, "salle": room})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_worst_metric_drives_the_score_and_its_reference_is_given(api):
    send(api, "S1", "Office", **{**GOOD, "co2": 1500})
    body = score(api, "S1", "Office")
    assert body["driver"] == "co2" and body["level"] == "moderate"
    assert body["score"] == body["sub_scores"]["co2"]["score"] == 49.8
    assert body["sub_scores"]["co2"] == {"score": 49.8, "level": "moderate", "value": 1500, "unit": "ppm"}
    assert body["sub_scores"]["pm25"]["level"] == "excellent"
    assert body["stale"] is False and body["stale_metrics"] == {} and body["message"] is None
    assert "EN 16798-1:2019" in body["references"]["co2"] and "WHO" in body["references"]["pm25"]
    assert body["enseigne"] == "S1" and body["salle"] == "Office" and body["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"enseigne": "S1"}, 422, "salle"),
        ({"salle": "Office"}, 422, "enseigne"),
        ({"enseigne": "Nowhere", "salle": "Office"}, 404, "no site named 'Nowhere'"),
        ({"enseigne": "S1", "salle": "Attic"}, 404, "no room named 'Attic' in site 'S1'"),
    ],
)
def test_missing_or_unknown_site_and_room(api, params, status, text):
    send(api, "S1", "Office", **GOOD)
    answer = api.get("/api/predict/score", params=params)
    assert answer.status_code == status
    if status == 422:
        assert answer.json()["detail"][0]["field"] == text
    else:
        assert answer.json()["error"] == text


def test_a_stale_value_is_left_out_and_reported(api):
    send(api, "S2", "Lab", ago_s=2 * 3600, sensor="voc", tvoc=20_000)  # a dead TVOC sensor, 2 h ago
    send(api, "S2", "Lab", sensor="main", co2=700, pm25=4)
    body = score(api, "S2", "Lab")
    assert body["stale"] is True and list(body["stale_metrics"]) == ["tvoc"]
    assert "tvoc" not in body["sub_scores"] and body["driver"] != "tvoc"
    assert body["level"] == "excellent"  # 20 000 µg/m³ of TVOC would make it bad: it is not used
    assert "tvoc" in body["message"]


def test_only_stale_values_give_no_score(api):
    send(api, "S3", "Store", ago_s=3 * 3600, **GOOD)
    body = score(api, "S3", "Store")
    assert body["score"] is None and body["level"] is None and body["driver"] is None
    assert body["stale"] is True and set(body["stale_metrics"]) == set(GOOD)
    assert "no reading in the last 60 min" in body["message"]


def test_a_room_without_readings_has_no_score(api):
    site = api.post("/api/config/sites", json={"name": "S4"}).json()
    api.post(f"/api/config/sites/{site['id']}/rooms", json={"name": "Empty"})
    body = score(api, "S4", "Empty")
    assert body["score"] is None and body["sub_scores"] == {} and body["stale"] is False
    assert body["message"] == "no readings of a scored metric yet"


def test_scores_are_stored_at_most_once_a_minute_per_room(api):
    base = int(time.time()) - 600
    readings = [  # every 20 s for 3 minutes: CO2 rising 50 ppm per reading
        {"sensor_id": "h1", "enseigne": "S5", "salle": "Hall", "timestamp": base + 20 * i,
         "values": {"co2": 900 + 50 * i, "pm25": 4.5}}
        for i in range(10)
    ]  # fmt: skip
    assert api.post("/api/ingest", json=readings).status_code == 200
    deadline = time.monotonic() + 5
    while True:
        history = api.get(
            "/api/predict/score/history", params={"enseigne": "S5", "salle": "Hall", "hours": 1}
        )
        if history.json()["count"] >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    rows = history.json()["data"]
    # readings at 0, 20, 40, 60 ... 180 s: the ones at 0, 60, 120 and 180 s are at least a minute apart
    assert [r["score"] for r in rows] == [score_of(900), score_of(1050), score_of(1200), score_of(1350)]
    assert rows[0]["driver"] == "pm25" and rows[-1]["driver"] == "co2"
    assert rows[-1]["level"] == "moderate"
    refused = api.get("/api/predict/score/history", params={"enseigne": "S5", "salle": "Hall", "hours": 0})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "hours"


def score_of(co2_ppm: float) -> float:
    result = room_score({"co2": co2_ppm, "pm25": 4.5})
    assert result is not None
    return result.score


def test_site_and_room_overrides_change_the_score_and_invalid_ones_are_refused(api):
    send(api, "S6", "Meeting", co2=970)
    assert score(api, "S6", "Meeting")["score"] == 80.0  # the category I/II boundary with outdoor 420
    site = next(s for s in api.get("/api/config/sites").json() if s["name"] == "S6")
    room_id = site["rooms"][0]["id"]

    put = api.put(f"/api/config/sites/{site['id']}/score-thresholds", json={"outdoor_co2_ppm": 450})
    assert put.status_code == 200 and put.json()["override"] == {"outdoor_co2_ppm": 450}
    assert score(api, "S6", "Meeting")["score"] == 81.0  # 520 ppm above outdoor

    room_override = {"co2": {"high": [0, 400, 800, 1350, 1580, 4580]}}
    put = api.put(f"/api/config/rooms/{room_id}/score-thresholds", json=room_override)
    assert put.status_code == 200
    assert put.json()["effective"]["outdoor_co2_ppm"] == 450  # inherited from the site
    body = score(api, "S6", "Meeting")
    assert (body["score"], body["level"]) == (74.0, "good")  # 520 above outdoor, past the room's 400

    bad = api.put(
        f"/api/config/rooms/{room_id}/score-thresholds",
        json={"co2": {"high": [0, 400, 300, 1350, 1580, 4580]}},
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "co2.high[2]"
    assert api.get(f"/api/config/rooms/{room_id}/score-thresholds").json()["override"] == room_override

    assert api.put(f"/api/config/rooms/{room_id}/score-thresholds", json={}).json()["override"] is None
    assert api.put(f"/api/config/sites/{site['id']}/score-thresholds", content=b"null",
                   headers={"content-type": "application/json"}).json()["override"] is None  # fmt: skip
    assert score(api, "S6", "Meeting")["score"] == 80.0
    assert api.put("/api/config/sites/99999/score-thresholds", json={}).status_code == 404
    assert api.get("/api/config/rooms/99999/score-thresholds").status_code == 404
