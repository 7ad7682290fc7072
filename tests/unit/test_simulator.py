"""Room physics, the demo simulator, replay pacing and the HTTP command line."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.datasets import DatasetRow
from services.simulator.demo import DEMO_SITES, DemoSimulator, demo_sites
from services.simulator.replay import replay
from services.simulator.room_model import CO2_GENERATION_M3_PER_H, RoomModel
from tests.support.env import ROOT as PROJECT

MONDAY_9H = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Paris
METRICS = {"co2", "pm25", "tvoc", "temperature", "humidity"}


def quiet_room(**overrides) -> RoomModel:
    """A room without schedule or random emissions, for checks against closed-form physics."""
    settings = dict(volume_m3=100.0, ach_per_h=1.0, fixed_occupants=0, random_events=False, seed=1)
    return RoomModel(**(settings | overrides))


def run_for(model: RoomModel, hours: float, step_s: float, start: datetime = MONDAY_9H) -> list[dict]:
    readings = []
    for index in range(1, int(hours * 3600 / step_s) + 1):
        readings.append(model.step(start + timedelta(seconds=index * step_s), step_s))
    return readings


def assert_payload_shape(payload: dict) -> None:
    assert set(payload) == {"sensor_id", "enseigne", "salle", "timestamp", "values"}
    assert payload["timestamp"].endswith("Z")
    datetime.fromisoformat(payload["timestamp"])
    assert set(payload["values"]) == METRICS
    assert all(isinstance(value, float) and math.isfinite(value) for value in payload["values"].values())


# --- physics ---------------------------------------------------------------------------------


def test_co2_rises_to_the_analytic_steady_state():
    room = quiet_room(fixed_occupants=10)
    expected_ppm = 420 + CO2_GENERATION_M3_PER_H * 10 * 1e6 / (100 * 1.0)  # ≈ 2292 ppm
    assert room.steady_state_co2_ppm(10) == pytest.approx(expected_ppm)
    room.co2_ppm = 420.0  # start from outdoor air
    levels = []
    for index in range(1, 8 * 60 + 1):
        room.step(MONDAY_9H + timedelta(minutes=index), 60)
        levels.append(room.co2_ppm)
    assert all(a < b for a, b in pairwise(levels))
    assert levels[59] == pytest.approx(420 + (expected_ppm - 420) * (1 - math.exp(-1)), rel=1e-6)
    assert levels[-1] == pytest.approx(expected_ppm, rel=1e-3)
    # One 8-hour step lands in the same place: the exact solution is stable for any dt.
    leap = quiet_room(fixed_occupants=10)
    leap.co2_ppm = 420.0
    leap.step(MONDAY_9H + timedelta(hours=8), 8 * 3600)
    assert leap.co2_ppm == pytest.approx(levels[-1], rel=1e-9)


def test_empty_room_co2_half_life_is_ln2_over_ach():
    room = quiet_room(ach_per_h=0.8)
    room.co2_ppm = 420 + 1200
    elapsed_s = 0
    while room.co2_ppm - 420 > 600:
        elapsed_s += 10
        room.step(MONDAY_9H + timedelta(seconds=elapsed_s), 10)
    assert elapsed_s / 3600 == pytest.approx(math.log(2) / 0.8, rel=0.05)


def test_ventilation_clears_co2_faster():
    still, ventilated = quiet_room(), quiet_room(ventilation_boost_ach_per_h=4.0)
    ventilated.ventilation_on = True
    for room in (still, ventilated):
        room.co2_ppm = 1500
        run_for(room, 0.5, 60)
    assert ventilated.co2_ppm < still.co2_ppm - 300
    assert ventilated.co2_ppm == pytest.approx(420 + 1080 * math.exp(-5.0 * 0.5), rel=1e-6)


def test_purifier_lowers_pm25_faster():
    plain, purified = quiet_room(volume_m3=60.0), quiet_room(volume_m3=60.0)
    purified.purifier_on = True
    for room in (plain, purified):
        room.pm25_ugm3 = 150.0
        run_for(room, 0.5, 60)
    assert purified.pm25_ugm3 < 0.25 * plain.pm25_ugm3  # CADR 300 m³/h in 60 m³ adds 5 /h


def test_demo_rooms_stay_physical_over_a_week():
    for site in DEMO_SITES:
        for spec in site.rooms:
            room = spec.build_model(site.tz, seed=3)
            heads = defaultdict(list)
            for index in range(1, 7 * 24 * 12 + 1):
                when = MONDAY_9H + timedelta(minutes=5 * index)
                values = room.step(when, 300)
                assert 380 <= values["co2"] <= 5000, values
                assert 0 <= values["pm25"] <= 300 and 0 <= values["tvoc"] <= 3000, values
                assert 12 <= values["temperature"] <= 32 and 10 <= values["humidity"] <= 90, values
                assert 0 <= room.occupants <= spec.capacity
                heads[(when.weekday(), when.hour)].append(room.occupants)
            busiest = max(max(counts) for counts in heads.values())
            assert busiest >= 0.6 * spec.capacity, spec.name
            assert max(heads[(6, 2)]) == 0  # Sunday 03:00 in Paris: empty
            if spec.profile == "meeting":
                assert 8 <= busiest <= 10


def test_same_seed_same_series():
    def series(seed: int) -> list[dict]:
        return run_for(RoomModel(volume_m3=60, capacity=10, profile="meeting", seed=seed), 24, 60)

    assert series(7) == series(7)
    assert series(7) != series(8)


# --- demo simulator --------------------------------------------------------------------------


def test_backfill_sends_two_hours_per_room_up_to_now():
    now = datetime(2026, 11, 27, 10, 5, 30, tzinfo=UTC)
    calls: list[list[dict]] = []

    async def sink(payloads: list[dict]) -> None:
        calls.append(payloads)

    simulator = DemoSimulator(sink, seed=1, clock=lambda: now)
    assert asyncio.run(simulator.backfill(hours=2, step_s=60)) == 360
    by_sensor = defaultdict(list)
    for payload in (payload for call in calls for payload in call):
        assert_payload_shape(payload)
        by_sensor[payload["sensor_id"]].append(payload["timestamp"])
    assert set(by_sensor) == {"ho-openspace-1", "ho-meeting-1", "ly-salesfloor-1"}
    for stamps in by_sensor.values():
        assert len(stamps) == 120
        assert stamps == sorted(set(stamps))
        assert (stamps[0], stamps[-1]) == ("2026-11-27T08:06:00Z", "2026-11-27T10:05:00Z")
    assert all(len(call) <= 1000 for call in calls)


def test_backfill_of_a_day_is_chunked():
    calls = []
    simulator = DemoSimulator(calls.append, seed=1, clock=lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    asyncio.run(simulator.backfill(hours=24, step_s=60))
    assert [len(call) for call in calls] == [1000, 1000, 1000, 1000, 320]


def test_run_survives_a_failing_sink_and_cancels_cleanly():
    calls: list[list[dict]] = []

    enough = asyncio.Event()

    async def sink(payloads: list[dict]) -> None:
        calls.append(payloads)
        if len(calls) == 1:
            raise ConnectionError("ingest down")
        if len(calls) >= 4:
            enough.set()

    async def scenario() -> DemoSimulator:
        simulator = DemoSimulator(sink, interval_s=0.01, seed=2)
        task = asyncio.create_task(simulator.run())
        await asyncio.wait_for(enough.wait(), 5)
        assert simulator.state == "running"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return simulator

    simulator = asyncio.run(scenario())
    assert len(calls) >= 4 and all(len(call) == 3 for call in calls)
    assert simulator.state == "stopped"
    assert "ingest down" in simulator.last_error
    assert simulator.sent_count >= 9
    for call in calls:
        for payload in call:
            assert_payload_shape(payload)


def test_rooms_expose_actuators_and_extra_rooms_are_named():
    simulator = DemoSimulator(lambda payloads: None, seed=4)
    site, room, sensor_id, model = simulator.rooms[1]
    assert (site, room, sensor_id) == ("Head office", "Meeting room", "ho-meeting-1")
    model.ventilation_on = True
    assert model.effective_ach_per_h() == pytest.approx(2.0 + 4.0)
    sites = demo_sites(5)
    names = {site.name: [room.name for room in site.rooms] for site in sites}
    assert names == {
        "Head office": ["Open space", "Meeting room", "Room 4"],
        "Lyon store": ["Sales floor", "Room 5"],
    }
    assert [room.name for site in demo_sites(2) for room in site.rooms] == ["Open space", "Meeting room"]


# --- replay ----------------------------------------------------------------------------------


def recorded(minutes_and_sensors: list[tuple[float, str]]) -> list[DatasetRow]:
    start = datetime(2018, 6, 4, 5, 0, tzinfo=UTC)
    return [
        DatasetRow(
            start + timedelta(minutes=m), sensor, "Home 1", "Kitchen", {"co2": 500.0 + m}, {"tvoc": "ppb"}
        )
        for m, sensor in minutes_and_sensors
    ]


Calls = list[tuple[datetime, list[dict]]]


def run_replay(rows: list[DatasetRow], **options) -> tuple[int, Calls, list[float]]:
    now = [datetime(2026, 11, 27, 10, 0, tzinfo=UTC)]
    sleeps: list[float] = []
    calls: Calls = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += timedelta(seconds=seconds)

    async def sink(payloads: list[dict]) -> None:
        calls.append((now[0], payloads))

    count = asyncio.run(replay(rows, sink, clock=lambda: now[0], sleep=fake_sleep, **options))
    return count, calls, sleeps


def test_replay_shifts_to_now_and_divides_spacing_by_speed():
    count, calls, sleeps = run_replay(recorded([(0, "a"), (0, "b"), (1, "a"), (3, "a")]), speed=60)
    assert count == 4
    assert sleeps == pytest.approx([1.0, 2.0])
    stamps = [[payload["timestamp"] for payload in payloads] for _, payloads in calls]
    assert stamps == [["2026-11-27T10:00:00Z"] * 2, ["2026-11-27T10:00:01Z"], ["2026-11-27T10:00:03Z"]]
    assert [payload["values"]["co2"] for _, payloads in calls for payload in payloads] == [500, 500, 501, 503]
    assert calls[0][1][0]["units"] == {"tvoc": "ppb"}


def test_replay_keeps_original_stamps_batches_and_stops_early():
    _, calls, sleeps = run_replay(recorded([(0, "a"), (2, "a")]), speed=120, shift_to_now=False)
    assert sleeps == pytest.approx([1.0])
    original = ["2018-06-04T05:00:00Z", "2018-06-04T05:02:00Z"]
    assert [payloads[0]["timestamp"] for _, payloads in calls] == original
    same_instant = recorded([(0, sensor) for sensor in "abcde"])
    assert [len(p) for _, p in run_replay(same_instant, batch=2)[1]] == [2, 2, 1]
    assert run_replay(same_instant, batch=2, max_calls=2)[0] == 4


# --- command line ----------------------------------------------------------------------------


class Receiver:
    """A real ingest endpoint on a free local port, recording what it is sent."""

    def __init__(self, status: int = 200, answer: dict | None = None) -> None:
        self.bodies: list = []
        self.headers: list[dict] = []

        async def ingest(request: Request) -> JSONResponse:
            self.bodies.append(await request.json())
            self.headers.append(dict(request.headers))
            return JSONResponse(answer or {"accepted": len(self.bodies[-1])}, status_code=status)

        app = Starlette(routes=[Route("/api/ingest", ingest, methods=["POST"])])
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self._server.started, "test receiver did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self._socket.close()


def simulator_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "services.simulator", *args]
    return subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=30)


def test_cli_posts_rounds_of_readings():
    with Receiver() as receiver:
        done = simulator_cli(
            "--url", receiver.url, "--rooms", "3", "--interval", "0.05", "--count", "3", "--api-key", "k3y"
        )
    assert done.returncode == 0, done.stderr
    assert len(receiver.bodies) == 3
    for body in receiver.bodies:
        assert len(body) == 3
        for payload in body:
            assert_payload_shape(payload)
    demo_ids = {"ho-openspace-1", "ho-meeting-1", "ly-salesfloor-1"}
    assert {p["sensor_id"] for p in receiver.bodies[0]} == demo_ids
    assert receiver.headers[0]["authorization"] == "Bearer k3y" and receiver.headers[0]["x-api-key"] == "k3y"
    assert f"sent 9 readings to {receiver.url}/api/ingest" in done.stdout


def test_cli_shows_the_servers_rejection_and_goes_on():
    answer = {"detail": "unknown sensor ho-openspace-1"}
    with Receiver(status=422, answer=answer) as receiver:
        done = simulator_cli("--url", receiver.url, "--rooms", "1", "--interval", "0.05", "--count", "2")
    assert done.returncode == 0
    assert len(receiver.bodies) == 2  # not retried, not fatal
    assert "422" in done.stderr and "unknown sensor ho-openspace-1" in done.stderr


def test_cli_exit_codes_for_bad_arguments_and_silent_server():
    assert simulator_cli("--url", "http://127.0.0.1:9", "--rooms", "0").returncode == 2
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"  # bound, not listening: refused
        done = simulator_cli("--url", url, "--retries", "0", "--count", "1")
    assert done.returncode == 1
    assert "no answer from" in done.stderr
