"""The platform on a real InfluxDB (influxd 1.x started by the tests): ingestion through the outbox, an
outage in the middle of a stream, a crash with a non-empty outbox, rejected credentials, the backlog's bound,
and hostile site and room names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.influx import InfluxServer, influx_server
from tests.support.influxdb import BASE, influx_env, raw, reading, stored_keys
from tests.support.servers import PlatformProcess, platform
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def influxd():
    with influx_server() as server:
        yield server


def test_readings_reach_influxdb_once_and_read_back_through_the_api(influxd, tmp_path):
    with platform(tmp_path / "data", **influx_env(influxd, "plain")) as srv, srv.client() as api:
        answer = api.post("/api/ingest", json=[reading(i) for i in range(10)])
        assert answer.status_code == 200, answer.text
        again = api.post("/api/ingest", json=reading(3))
        assert again.json()["duplicates"] == 1
        wait_for(lambda: len(stored_keys(influxd, "plain")) == 10, "10 readings in InfluxDB")
        storage = wait_for(
            lambda: (check := api.get("/health").json()["checks"]["storage"])["waiting"] == 0 and check,
            "the outbox emptied",
        )
        assert storage == {"status": "ok", "backend": "influxdb", "waiting": 0}
        body = raw(api, "Influx HQ")
        assert [r["co2"] for r in body["data"]] == [400 + i for i in range(10)]
        assert "pending" not in body
        hourly = api.get(
            "/api/v2/iaq/data",
            params={"enseigne": "Influx HQ", "start": "2026-02-03", "end": "2026-02-04", "step": "1h"},
        ).json()
        (bucket,) = hourly["data"]
        assert bucket["stats"]["co2"] == {"min": 400, "max": 409, "count": 10}
        point = influxd.points("plain")[0]
        assert (point["enseigne"], point["salle"], point["sensor_id"]) == ("Influx HQ", "Lab", "inf-1")


def test_an_outage_in_the_middle_of_a_stream_loses_nothing_and_drains_by_itself(influxd, tmp_path):
    acknowledged: set[tuple[str, int]] = set()
    with platform(tmp_path / "data", **influx_env(influxd, "outage")) as srv, srv.client() as api:

        def send(batch: range) -> None:
            for i in batch:
                answer = api.post("/api/ingest", json=reading(i, sensor=f"out-{i % 3}"))
                assert answer.status_code == 200, answer.text  # an outage never refuses readings
                acknowledged.add((f"out-{i % 3}", int((BASE + timedelta(minutes=i)).timestamp() * 1000)))

        send(range(0, 30))
        influxd.stop()
        try:
            send(range(30, 60))
            health = wait_for(
                lambda: (
                    api.get("/health").json()["checks"]["storage"]["status"] == "degraded"
                    and api.get("/health")
                ),
                "storage degraded in /health",
            )
            assert health.status_code == 503
            storage = health.json()["checks"]["storage"]
            assert storage["message"] == f"storage degraded, {storage['waiting']} readings waiting"
            assert storage["waiting"] >= 1
            during = raw(api, "Influx HQ", limit=1000)
            assert during["pending"] is True and during["storage"]["influxdb"] == "unreachable"
            waiting_rows = {(r["sensor_id"], r["timestamp"]) for r in during["data"]}
            assert len(waiting_rows) >= 30  # at least the readings sent during the outage are shown
            send(range(60, 70))
        finally:
            influxd.start()
        wait_for(lambda: api.get("/health").status_code == 200, "storage ok again after InfluxDB returned")
        assert raw(api, "Influx HQ", limit=1000)["count"] == 70
    stored = stored_keys(influxd, "outage")
    assert set(stored) == acknowledged, f"missing: {sorted(acknowledged - set(stored))[:5]}"
    assert len(stored) == len(acknowledged)  # none twice


def test_a_duplicate_stays_a_duplicate_while_influxdb_is_down_and_the_log_says_what_happened(
    influxd, tmp_path
):
    now = datetime.now(UTC).replace(microsecond=0)
    recent = [
        {"sensor_id": "dup-1", "enseigne": "Dup", "salle": "Lab", "values": {"co2": 500 + i},
         "timestamp": (now - timedelta(minutes=10 - i)).isoformat().replace("+00:00", "Z")}
        for i in range(5)
    ]  # fmt: skip
    env = influx_env(influxd, "dups", IAQ_LOG_LEVEL="INFO")
    with platform(tmp_path / "data", **env) as srv, srv.client() as api:
        assert api.post("/api/ingest", json=recent).status_code == 200
        wait_for(lambda: len(stored_keys(influxd, "dups")) == 5, "the readings in InfluxDB")
        wait_for(lambda: api.get("/health").json()["checks"]["storage"]["waiting"] == 0, "the outbox empty")
        influxd.stop()
        try:
            again = api.post("/api/ingest", json=recent[2])
            assert (again.status_code, again.json()["outcome"]) == (
                200,
                "duplicate",
            )  # known without InfluxDB
            batch = api.post("/api/ingest", json=[*recent, {**recent[0], "timestamp": now.isoformat()}])
            assert batch.status_code == 200 and batch.json()["duplicate_indices"] == [0, 1, 2, 3, 4]
            wait_for(
                lambda: api.get("/health").json()["checks"]["storage"]["status"] == "degraded", "degraded"
            )
        finally:
            influxd.start()
        wait_for(lambda: api.get("/health").status_code == 200, "storage ok again after InfluxDB returned")
        log = wait_for(
            lambda: "reachable again" in srv.log() and srv.log(), "the line saying InfluxDB is back"
        )
    assert len(stored_keys(influxd, "dups")) == 6
    assert "InfluxDB cannot take readings" in log and "readings and points sent in" in log
    assert "HTTP Request" not in log  # the HTTP client's lines are for DEBUG


def test_a_crash_with_readings_waiting_drains_them_after_restart(tmp_path):
    server = InfluxServer()
    data = tmp_path / "data"
    try:
        down = PlatformProcess(data, **influx_env(server, "crash")).start()  # influxd not started yet
        try:
            with down.client() as api:
                answer = api.post("/api/ingest", json=[reading(i, sensor="crash-1") for i in range(25)])
                assert answer.status_code == 200
                assert api.get("/health").json()["checks"]["storage"]["waiting"] == 25
        finally:
            down.kill()
        server.start()
        with platform(data, **influx_env(server, "crash")) as up, up.client() as api:
            wait_for(lambda: len(stored_keys(server, "crash")) == 25, "the 25 waiting readings in InfluxDB")
            wait_for(lambda: api.get("/health").json()["checks"]["storage"]["waiting"] == 0, "outbox empty")
    finally:
        server.cleanup()


def test_past_the_backlog_bound_ingestion_answers_503_and_keeps_what_it_took(tmp_path):
    server = InfluxServer()  # never started: InfluxDB is down for the whole test
    try:
        env = influx_env(server, "bound", IAQ_OUTBOX_MAX="5")
        with platform(tmp_path / "data", **env) as srv, srv.client() as api:
            assert api.post("/api/ingest", json=[reading(i) for i in range(5)]).status_code == 200
            refused = api.post("/api/ingest", json=reading(5))
            assert refused.status_code == 503
            assert "IAQ_OUTBOX_MAX" in refused.json()["error"]
            assert raw(api, "Influx HQ")["count"] == 5
    finally:
        server.cleanup()


def test_rejected_credentials_stop_the_platform_with_a_clear_message(tmp_path):
    with influx_server(auth=True) as server:
        server.create_admin("admin", "s3cret")
        wrong = PlatformProcess(
            tmp_path / "wrong", **influx_env(server, "authdb", INFLUXDB_TOKEN="admin:nope")
        )
        with pytest.raises(RuntimeError, match="rejected the credentials"):
            wrong.start()
        assert "INFLUXDB_TOKEN" in wrong.log()
        env = influx_env(server, "authdb", INFLUXDB_TOKEN="admin:s3cret")
        with platform(tmp_path / "right", **env) as srv, srv.client() as api:
            assert api.post("/api/ingest", json=reading(1)).status_code == 200
            wait_for(lambda: len(stored_keys(server, "authdb")) == 1, "the reading in the created database")


HOSTILE = ["x' OR 1=1 --", 'Lab" ; DROP DATABASE "hostile', "a\\' b, c=d\\ e", "r/* */ =~ /.*/"]


def test_hostile_site_and_room_names_are_stored_and_queried_as_plain_text(influxd, tmp_path):
    with platform(tmp_path / "data", **influx_env(influxd, "hostile")) as srv, srv.client() as api:
        for n, name in enumerate(HOSTILE):
            body = [reading(i, sensor=f"h-{n}", site=name, room=name) for i in range(3)]
            assert api.post("/api/ingest", json=body).status_code == 200, name
        assert (
            api.post("/api/ingest", json=reading(0, sensor="calm", site="Calm", room="Lab")).status_code
            == 200
        )
        wait_for(lambda: len(stored_keys(influxd, "hostile")) == 3 * len(HOSTILE) + 1, "every reading stored")
        for name in HOSTILE:
            body = raw(api, name, salle=name)
            assert [r["salle"] for r in body["data"]] == [name] * 3
        assert raw(api, "Calm")["count"] == 1
    names = {p["salle"] for p in influxd.points("hostile")}
    assert {"Lab", *HOSTILE} <= names  # tags hold the names as given (the database was not dropped)


def test_influxql_literals_match_hostile_values_exactly(influxd):
    from app.core.storage.influx_http import InfluxHttp, ident, literal

    http = InfluxHttp(influxd.url, "literals")
    try:
        assert http.ensure_database()
        values = [*HOSTILE, "plain"]
        lines = []
        for i, value in enumerate(values):
            from influxdb_client import Point, WritePrecision

            point = (
                Point("m")
                .tag("salle", value)
                .field("v", float(i))
                .time(1_700_000_000_000 + i, WritePrecision.MS)
            )
            lines.append(point.to_line_protocol())
        http.write_sync(lines)
        for i, value in enumerate(values):
            (series,) = http.query(
                f"SELECT {ident('v')} FROM {ident('m')} WHERE {ident('salle')} = {literal(value)}"
            )
            assert [row[1] for row in series["values"]] == [float(i)], value
    finally:
        http.close()


@pytest.fixture
def influxdb_down(monkeypatch):
    """The `user` fixture's app on an InfluxDB that does not answer (nothing listens on the port)."""
    from tests.support.servers import free_port

    monkeypatch.setenv("INFLUXDB_URL", f"http://127.0.0.1:{free_port()}")


async def test_the_dashboard_says_storage_is_degraded_and_how_many_readings_wait(
    influxdb_down, user, runtime
) -> None:
    await user.open("/")
    await user.should_see("storage degraded, 0 readings waiting")
    await runtime.ingestion.ingest([reading(i, sensor="dash-1") for i in range(3)])
    await user.should_see("storage degraded, 3 readings waiting", retries=50)  # the open page follows


async def test_the_room_page_says_its_chart_lacks_what_influxdb_holds_and_shows_what_waits(
    influxdb_down, user, runtime
) -> None:
    from tests.support.pages import room_id
    from tests.support.waiting import eventually

    now = datetime.now(UTC)
    recent = [{**reading(i, sensor="room-1"), "timestamp": (now - timedelta(minutes=9 - i)).isoformat()}
              for i in range(4)]  # fmt: skip
    await runtime.ingestion.ingest(recent)
    await user.open(f"/rooms/{await room_id(runtime, 'Lab')}")
    await user.should_see("InfluxDB cannot be reached: this chart may lack readings it holds", retries=50)
    await user.should_see("4 readings waiting to reach it are shown")
    chart = user.find(marker="chart").elements.pop()
    await eventually(lambda: chart.point_count == 4)  # the waiting readings are drawn
    await runtime.ingestion.ingest({**reading(0, sensor="room-1"), "timestamp": now.isoformat()})
    await user.should_see("5 readings waiting to reach it are shown", retries=50)  # the open page follows


def test_lines_are_what_influxdb_clients_point_writes():
    from influxdb_client import Point, WritePrecision

    from app.core.storage.influx_lines import LineEncoder

    encoder = LineEncoder()
    cases = [
        ("s 1", 'Site, "A"', "Room=1 \\", 7, {"co2": 400, "pm25": 12.5, "no 2": 1e-7, "t,x": -3.0}),
        *((f"s{i}", HOSTILE[i], HOSTILE[-1 - i], i, {"humidity": 40 + i / 3}) for i in range(len(HOSTILE))),
    ]
    for sensor, site, room, room_id, values in cases:
        point = Point("iaq_raw").tag("sensor_id", sensor).tag("enseigne", site).tag("salle", room)
        point.tag("room_id", str(room_id)).time(1_760_000_000_123, WritePrecision.MS)
        for name, value in values.items():
            point.field(name, float(value))
        prefix = encoder.series(sensor, site, room, room_id)
        assert encoder.line(prefix, values, 1_760_000_000_123) == point.to_line_protocol()


def test_deleting_a_room_asks_first_then_deletes_its_readings_in_influxdb(influxd, tmp_path):
    with platform(tmp_path / "data", **influx_env(influxd, "deleting")) as srv, srv.client() as api:
        body = [reading(i, sensor="del-1", room="Gone") for i in range(4)] + [reading(0, sensor="keep-1")]
        assert api.post("/api/ingest", json=body).status_code == 200
        wait_for(lambda: len(stored_keys(influxd, "deleting")) == 5, "the readings in InfluxDB")
        # and confirmed: between InfluxDB's answer and the outbox's delete, a reading is counted in both
        wait_for(lambda: api.get("/health").json()["checks"]["storage"]["waiting"] == 0, "the outbox empty")
        (site,) = [s for s in api.get("/api/config/sites").json() if s["name"] == "Influx HQ"]
        gone = next(r["id"] for r in site["rooms"] if r["name"] == "Gone")
        assert {r["name"]: r["readings"] for r in site["rooms"]} == {"Gone": 4, "Lab": 1}
        refused = api.delete(f"/api/config/rooms/{gone}")
        assert refused.status_code == 409 and "4 reading(s)" in refused.json()["error"]
        assert api.delete(f"/api/config/rooms/{gone}", params={"cascade": "true"}).status_code == 200
        assert {p["salle"] for p in influxd.points("deleting")} == {"Lab"}
