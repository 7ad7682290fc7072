"""Ingestion benchmark: the platform next to a bare Starlette route, in the same run, on this machine.

    python bench/ingest.py [--seconds 15] [--connections 64] [--batches 600] [--rounds 3]

Single readings: wrk (Debian package `wrk`) POSTs one new reading per request, over many keep-alive
connections, to the platform and to a bare route that only parses the JSON and answers 204.
Batches: a Python client POSTs batches of 1000 readings (encoded before timing), 4 at a time, and counts
stored readings per second.
The platform runs with its real settings (SQLite, WAL, synchronous=FULL: acknowledged readings are on disk).
The platform and the bare route alternate over several rounds: this shared machine's speed drifts within
minutes, and a ratio of runs taken minutes apart would measure the drift. A CPU gauge is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as host
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import PlatformProcess, device_key, free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far; Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commit_ms(folder: Path, commits: int = 50) -> float:
    """Median wall time of a one-row commit with the platform's SQLite settings (WAL, synchronous=FULL) in
    `folder`: the disk's sync latency, which bounds how fast group commits can follow each other."""
    import sqlite3
    import statistics

    conn = sqlite3.connect(folder / "commit-probe.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY, b REAL)")
    times = []
    for i in range(commits):
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (b) VALUES (?)", (i,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(times) * 1000


def decode_ms(rounds: int = 300) -> float:
    """Median time to decode one batch body of 1000 readings (orjson), in this process: a gauge of how fast
    the machine's CPU runs during the benchmark (a shared virtual machine's speed varies from hour to hour;
    the absolute batch figure moves with it, the ratios to the bare route much less)."""
    import statistics

    body = orjson.dumps(
        [
            {"sensor_id": f"s{i % 50}", "enseigne": "Bench", "salle": "Room", "timestamp": 1.7e9 + i,
             "values": {"co2": 400 + i, "pm25": 8.5, "tvoc": 120, "temperature": 21.7, "humidity": 44}}
            for i in range(1000)
        ]
    )  # fmt: skip
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        orjson.loads(body)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def wrk(
    url: str, seconds: int, connections: int, threads: int = 2, key: str = "", base_ts: int | None = None
) -> dict[str, float]:
    """`base_ts`: the first reading's time; runs that follow each other need bases far enough apart that
    their readings never repeat one another's (sensor, time)."""
    if base_ts is None:
        base_ts = int(time.time()) - 40 * 86400 + int(time.time()) % 1000 * 3000
    env = {**os.environ, "BENCH_BASE_TS": str(base_ts)}
    env["BENCH_API_KEY"] = key  # a device key, as real sensors send (the bare app ignores it)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(ROOT / "bench" / "single.lua"),
            url + "/api/ingest",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    match = re.search(r"BENCH requests=(\d+) non2xx=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests, non2xx, duration_us, p50, p99 = map(int, match.groups())
    return {
        "rps": requests / (duration_us / 1e6),
        "requests": requests,
        "seconds": duration_us / 1e6,
        "errors": non2xx,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
    }


async def batches(
    url: str, count: int, size: int = 1000, concurrency: int = 4, key: str = "", first: int = 0
) -> dict[str, float]:
    """`first`: the index of the first batch (a later round continues where the previous one stopped)."""
    base = int(time.time()) - 20 * 86400
    bodies = [  # encoded before timing: the load generator's JSON encoding is not the server's work
        orjson.dumps(
            [
                {
                    "sensor_id": f"batch-{b % 50}",
                    "enseigne": "Bench",
                    "salle": f"Batch {b % 10}",
                    "timestamp": base + (b // 50) * size + i,
                    "values": {
                        "co2": 400 + i % 800,
                        "pm25": 8.5,
                        "tvoc": 120,
                        "temperature": 21.7,
                        "humidity": 44,
                    },
                }
                for i in range(size)
            ]
        )
        for b in range(first, first + count)
    ]
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    stored = 0

    async def worker() -> None:
        nonlocal stored
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
            while not queue.empty():
                answer = await client.post("/api/ingest", content=queue.get_nowait())
                answer.raise_for_status()
                stored += answer.json().get("stored", size) if answer.status_code != 204 else size

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "readings_per_s": count * size / elapsed,
        "stored": stored,
        "readings": count * size,
        "seconds": elapsed,
    }


def combined(runs: list[dict[str, float]], unit: str) -> dict[str, float]:
    """Rounds of one side as one run: rates over the total time, CPU per unit over the total count."""
    count, seconds = sum(r[unit] for r in runs), sum(r["seconds"] for r in runs)
    out = {
        "rps": count / seconds,
        "readings_per_s": count / seconds,
        "cpu_us": sum(r["cpu_us"] * r[unit] for r in runs) / count,
        "stored": sum(r.get("stored", 0) for r in runs),
        "errors": sum(r.get("errors", 0) for r in runs),
    }
    if "p50_ms" in runs[0]:
        out["p50_ms"] = sorted(r["p50_ms"] for r in runs)[len(runs) // 2]
        out["p99_ms"] = max(r["p99_ms"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument(
        "--rounds", type=int, default=3, help="platform and bare alternate this many times (speed drift)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed for this benchmark: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="iaq-bench-"))
    bare_port = free_port()
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    # the device key's rate limit is lifted: the benchmark measures throughput, not the limit
    unlimited = {"IAQ_DEVICE_KEY_RATE": "1e12", "IAQ_DEVICE_KEY_BURST": "1000000000"}
    platform = PlatformProcess(work / "data", IAQ_LOG_LEVEL="WARNING", **unlimited).start()
    bare_url = f"http://127.0.0.1:{bare_port}"
    try:
        with httpx.Client(base_url=platform.url, timeout=10) as admin:
            key = device_key(admin, "Bench")
        for _ in range(100):
            try:
                httpx.post(bare_url + "/api/ingest", json={}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        wrk(platform.anonymous_url, 2, 8, key=key)  # warm-up
        wrk(bare_url, 2, 8)
        pids = {platform.anonymous_url: platform.proc.pid, bare_url: bare.pid}
        keys = {platform.anonymous_url: key, bare_url: ""}

        def measured(url: str, run, count) -> dict[str, float]:
            """The run's figures plus the server's CPU time per request or reading, in µs."""
            before = cpu_seconds(pids[url])
            figures = run()
            figures["cpu_us"] = (cpu_seconds(pids[url]) - before) / count(figures) * 1e6
            return figures

        seconds = max(1, round(args.seconds / args.rounds))
        per_round = max(1, args.batches // args.rounds)
        base_ts = int(time.time()) - 60 * 86400  # rounds 500 000 s apart, all in the past

        def single(url: str, r: int) -> dict[str, float]:
            return measured(
                url,
                lambda: wrk(url, seconds, args.connections, key=keys[url], base_ts=base_ts + r * 500_000),
                lambda f: f["requests"],
            )

        def batch(url: str, r: int) -> dict[str, float]:
            return measured(
                url,
                lambda: asyncio.run(batches(url, per_round, key=keys[url], first=r * per_round)),
                lambda f: f["readings"],
            )

        # platform and bare alternate, round after round: this shared machine's speed drifts within minutes,
        # and a ratio of two runs minutes apart would measure the drift
        sync_before, gauge_before = commit_ms(work), decode_ms()
        singles = [(single(platform.anonymous_url, r), single(bare_url, r)) for r in range(args.rounds)]
        batched = [(batch(platform.anonymous_url, r), batch(bare_url, r)) for r in range(args.rounds)]
        sync_after, gauge_after = commit_ms(work), decode_ms()
        single_platform, single_bare = (combined([pair[k] for pair in singles], "requests") for k in (0, 1))
        batch_platform, batch_bare = (combined([pair[k] for pair in batched], "readings") for k in (0, 1))
        single_ratios = sorted(p["rps"] / b["rps"] for p, b in singles)
    finally:
        platform.stop()
        bare.terminate()
        bare.wait(10)
    print(
        f"machine: {host.node()} {host.machine()} {os.cpu_count()} cores, Python {host.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(
        f"disk: a one-row commit (WAL, synchronous=FULL) takes {sync_before:.1f} ms before the runs, "
        f"{sync_after:.1f} ms after (median); the group commit cycle cannot be shorter"
    )
    print(
        f"cpu gauge: decoding a 1000-reading JSON batch takes {gauge_before:.2f} ms before the runs, "
        f"{gauge_after:.2f} ms after (median; about 0.7 ms when this machine runs at its usual speed)"
    )
    print(
        f"single readings, {args.connections} connections, {args.rounds} rounds of {seconds} s each, "
        "platform and bare alternating (wrk):"
    )
    print(
        f"  platform : {single_platform['rps']:8.0f} req/s  p50 {single_platform['p50_ms']:.1f} ms  "
        f"p99 {single_platform['p99_ms']:.1f} ms  non-2xx {single_platform['errors']}  "
        f"server CPU {single_platform['cpu_us']:.0f} µs/request"
    )
    print(
        f"  bare     : {single_bare['rps']:8.0f} req/s  p50 {single_bare['p50_ms']:.1f} ms  "
        f"p99 {single_bare['p99_ms']:.1f} ms  server CPU {single_bare['cpu_us']:.0f} µs/request"
    )
    print(f"  ratio per round: {', '.join(f'{x:.2f}' for x in single_ratios)}")
    print(
        f"  ratio platform/bare: {single_platform['rps'] / single_bare['rps']:.2f}  (target >= 0.70); "
        f"of server CPU per request (bare/platform): {single_bare['cpu_us'] / single_platform['cpu_us']:.2f}"
    )
    print(
        f"batches of 1000 readings, 4 concurrent, {args.rounds} rounds of {per_round} batches, alternating:"
    )
    print(
        f"  platform : {batch_platform['readings_per_s']:8.0f} readings/s  "
        f"(stored {batch_platform['stored']})  server CPU {batch_platform['cpu_us']:.1f} µs/reading "
        f"= {1e6 / batch_platform['cpu_us']:.0f} readings/s per core"
    )
    print(
        f"  bare     : {batch_bare['readings_per_s']:8.0f} readings/s  "
        f"server CPU {batch_bare['cpu_us']:.1f} µs/reading"
    )
    print(
        f"  ratio platform/bare: {batch_platform['readings_per_s'] / batch_bare['readings_per_s']:.2f}  "
        f"(targets: >= 0.60, platform >= 100000 readings/s, <= 8 µs of server CPU a reading)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
