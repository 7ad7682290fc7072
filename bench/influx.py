"""InfluxDB benchmark: the embedded SQL store next to a local InfluxDB, and ingestion through the platform on
InfluxDB next to writing to InfluxDB directly, all in the same run on this machine.

    python bench/influx.py [--rooms 100] [--days 30] [--repeat 30] [--batches 100]

1. Stores: one generated data set (rooms x 5 metrics x days at 1 minute) is loaded into SQLite (through the
   SQL adapter's `stage`, 50 000 readings per transaction) and into InfluxDB (line protocol, 10 000 points per
   write). Then the median and p95 latency of (a) 24 h at 5 min for one room, (b) 30 days at 1 h for one
   room, (c) the latest values of all rooms, through each adapter; (b) also from the hourly rollups.
   Ratios are SQLite / InfluxDB (below 1: SQLite is faster).
2. Ingestion: batches of 1000 readings, 4 clients at a time, POSTed to the platform running
   on InfluxDB (acknowledged = committed to the outbox), then the time until the drainer has emptied the
   outbox; next to the same batches written as line protocol to InfluxDB directly, and POSTed to the platform
   on SQLite. Ratios to the direct writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform as host
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.db.migrate import upgrade_to_head  # noqa: E402
from app.core.db.models import Room, Sensor, Site  # noqa: E402
from app.core.db.session import make_engine  # noqa: E402
from app.core.storage.base import StoredReading  # noqa: E402
from app.core.storage.influx import InfluxTimeSeriesStore  # noqa: E402
from app.core.storage.influx_http import InfluxHttp  # noqa: E402
from app.core.storage.rollups import SqlRollupStore  # noqa: E402
from app.core.storage.sql import SqlTimeSeriesStore  # noqa: E402
from services.rollups import RollupReader, RollupService  # noqa: E402
from tests.support.influx import InfluxServer  # noqa: E402
from tests.support.servers import PlatformProcess  # noqa: E402

MIN = 60_000
H = 60 * MIN
DAY = 24 * H


def values(rng: random.Random) -> dict[str, float]:
    return {
        "co2": round(rng.uniform(400, 1500), 1),
        "pm25": round(rng.uniform(1, 40), 1),
        "tvoc": round(rng.uniform(50, 600), 1),
        "temperature": round(rng.uniform(18, 27), 2),
        "humidity": round(rng.uniform(30, 65), 1),
    }


def line(site: str, room: int, ts_ms: int, v: dict[str, float]) -> str:
    fields = ",".join(f"{k}={float(x)}" for k, x in v.items())
    return f"iaq_raw,enseigne={site},room_id={room},salle=Room\\ {room},sensor_id=s{room} {fields} {ts_ms}"


def timed(fn, repeat: int) -> dict[str, float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (len(samples) - 1))]}


def stores_part(args, workdir: Path, influxd: InfluxServer) -> dict:
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(insert(Site).values(id=1, name="Bench", timezone="UTC"))
        conn.execute(
            insert(Room), [{"id": r, "site_id": 1, "name": f"Room {r}"} for r in range(1, args.rooms + 1)]
        )
        conn.execute(
            insert(Sensor), [{"id": r, "sensor_id": f"s{r}", "room_id": r} for r in range(1, args.rooms + 1)]
        )
    sql = SqlTimeSeriesStore(engine)
    http = InfluxHttp(influxd.url, "bench")
    http.ensure_database()
    influx = InfluxTimeSeriesStore(engine, http)
    end_ms = (int(time.time() * 1000) // H) * H
    start_ms = end_ms - args.days * DAY
    rng = random.Random(7)
    total = args.rooms * args.days * 1440
    print(f"data set: {args.rooms} rooms x 5 metrics x {args.days} days at 1 min = {total} readings")

    sql_s = influx_s = 0.0
    chunk: list[StoredReading] = []
    lines: list[str] = []

    def flush_sql() -> float:
        started = time.perf_counter()
        with engine.begin() as conn:
            sql.stage(conn, chunk)
        return time.perf_counter() - started

    def flush_influx() -> float:
        started = time.perf_counter()
        for i in range(0, len(lines), 10_000):
            http.write_sync(lines[i : i + 10_000])
        return time.perf_counter() - started

    for ts in range(start_ms, end_ms, MIN):
        for room in range(1, args.rooms + 1):
            v = values(rng)
            chunk.append(StoredReading(room, room, ts, v))
            lines.append(line("Bench", room, ts, v))
        if len(chunk) >= 50_000:
            sql_s += flush_sql()
            influx_s += flush_influx()
            chunk, lines = [], []
            print(f"\rloaded {(ts - start_ms) * 100 // (end_ms - start_ms)} %", end="", flush=True)
    if chunk:
        sql_s += flush_sql()
        influx_s += flush_influx()
    print()
    rollups = RollupService(
        store=sql,
        rollups=SqlRollupStore(engine),
        raw_retention_days=0,
        rollup_retention_days=730,
        interval_s=300,
        data_dir=workdir,
        disk_warn_percent=0,
        clock=lambda: end_ms / 1000,
    )
    started = time.perf_counter()
    rollups.run_once()
    rollup_s = time.perf_counter() - started
    reader = RollupReader(sql, rollups)

    room = args.rooms // 2
    queries = {
        "a: 24 h at 5 min, one room": lambda s: s.query_buckets([room], end_ms - DAY, end_ms, 5 * MIN),
        "b: 30 d at 1 h, one room": lambda s: s.query_buckets([room], end_ms - 30 * DAY, end_ms, H),
        "c: latest values, all rooms": lambda s: s.latest(None),
    }
    # Influx itself answering (c), without the adapter's local table of latest values
    last = "SELECT " + ", ".join(f'last("{m}")' for m in ("co2", "pm25", "tvoc", "temperature", "humidity"))
    native_latest = last + ' FROM "iaq_raw" GROUP BY "room_id"'
    results = {}
    for name, query in queries.items():
        results[name] = {"sqlite": timed(lambda q=query: q(sql), args.repeat)}
        results[name]["influxdb"] = timed(lambda q=query: q(influx), args.repeat)
        if name.startswith("a") or name.startswith("b"):
            results[name]["sqlite+rollups"] = timed(lambda q=query: q(reader), args.repeat)
    results["c: latest values, all rooms"]["influxdb last()"] = timed(
        lambda: http.query(native_latest), max(3, args.repeat // 5)
    )
    engine.dispose()
    http.close()
    return {
        "readings": total,
        "load_s": {"sqlite": sql_s, "influxdb": influx_s, "rollups (sqlite, first run)": rollup_s},
        "queries": results,
    }


async def post_batches(url: str, path: str, bodies: list[bytes], clients: int, **kw) -> tuple[int, float]:
    """POST prepared bodies of 1000 readings with `clients` concurrent clients; returns the readings
    acknowledged (2xx) and the time taken."""
    done = 0
    queue = list(reversed(bodies))
    started = time.perf_counter()

    async def client() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            while queue:
                answer = await c.post(path, content=queue.pop(), **kw)
                if answer.status_code < 300:
                    done += 1000

    await asyncio.gather(*(client() for _ in range(clients)))
    return done, time.perf_counter() - started


def ingest_part(args, workdir: Path, influxd: InfluxServer) -> dict:
    base = datetime(2026, 1, 1, tzinfo=UTC)

    api_bodies, line_bodies = [], []  # prepared before timing: the client's own work is not measured
    n = 0
    for _ in range(args.batches):
        batch, lines = [], []
        for _ in range(1000):
            room = n % args.rooms
            ts = base + timedelta(seconds=n // args.rooms)
            v = values(random.Random(n))
            batch.append(
                {
                    "sensor_id": f"b{room}",
                    "enseigne": "Bench",
                    "salle": f"Room {room}",
                    "timestamp": ts.isoformat(),
                    "values": v,
                }
            )
            lines.append(line("Direct", room, int(ts.timestamp() * 1000), v))
            n += 1
        api_bodies.append(json.dumps(batch).encode())
        line_bodies.append("\n".join(lines).encode())

    influxd.query("CREATE DATABASE direct", post=True)
    direct_n, direct_s = asyncio.run(
        post_batches(influxd.url, "/write?db=direct&precision=ms", line_bodies, 4)
    )
    server = PlatformProcess(
        workdir / "platform", INFLUXDB_URL=influxd.url, INFLUXDB_BUCKET="through", IAQ_ALERTS="0"
    ).start()
    try:
        acked, acked_s = asyncio.run(
            post_batches(
                server.url,
                "/api/ingest",
                api_bodies,
                4,
                headers={"content-type": "application/json"},
            )
        )
        started = time.perf_counter()
        while httpx.get(server.url + "/health", timeout=10).json()["checks"]["storage"]["waiting"]:
            time.sleep(0.2)
        drained_s = acked_s + time.perf_counter() - started
    finally:
        server.stop()
    reference = PlatformProcess(workdir / "platform-sqlite", IAQ_ALERTS="0").start()
    try:
        sqlite_n, sqlite_s = asyncio.run(
            post_batches(
                reference.url, "/api/ingest", api_bodies, 4, headers={"content-type": "application/json"}
            )
        )
    finally:
        reference.stop()
    return {
        "platform_sqlite_per_s": sqlite_n / sqlite_s,
        "direct_per_s": direct_n / direct_s,
        "platform_acked_per_s": acked / acked_s,
        "platform_in_influx_per_s": acked / drained_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batches", type=int, default=100, help="batches of 1000 readings to ingest")
    parser.add_argument("--skip-stores", action="store_true")
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {host.platform()}, Python {host.python_version()}")
    with tempfile.TemporaryDirectory(prefix="iaq-bench-influx-") as tmp:
        influxd = InfluxServer().start()
        try:
            version = httpx.get(influxd.url + "/ping").headers.get("x-influxdb-version")
            print(f"InfluxDB {version} (influxd started by the benchmark)")
            if not args.skip_stores:
                stores = stores_part(args, Path(tmp), influxd)
                print("\nload:", ", ".join(f"{k} {v:.1f} s" for k, v in stores["load_s"].items()))
                print(f"\n{'query':32} {'store':18} {'median ms':>10} {'p95 ms':>10} {'SQLite/InfluxDB':>16}")
                for name, by_store in stores["queries"].items():
                    reference = by_store["influxdb"]["median_ms"]
                    for store, figures in by_store.items():
                        ratio = figures["median_ms"] / reference
                        print(
                            f"{name:32} {store:18} {figures['median_ms']:10.2f} {figures['p95_ms']:10.2f} "
                            f"{ratio:16.2f}"
                        )
            ingest = ingest_part(args, Path(tmp), influxd)
            direct = ingest["direct_per_s"]
            print(f"\ningestion, {args.batches} batches of 1000, 4 clients (readings/s, x direct):")
            for label, key in (
                ("directly to InfluxDB (line protocol)", "direct_per_s"),
                ("platform on InfluxDB, acknowledged", "platform_acked_per_s"),
                ("platform on InfluxDB, until in InfluxDB", "platform_in_influx_per_s"),
                ("platform on SQLite, acknowledged (reference)", "platform_sqlite_per_s"),
            ):
                print(f"  {label:42} {ingest[key]:10.0f} {ingest[key] / direct:6.2f}")
        finally:
            influxd.cleanup()


if __name__ == "__main__":
    main()
