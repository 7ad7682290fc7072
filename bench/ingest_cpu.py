"""CPU cost per request of the ingestion path, in-process: steadier than wall-clock rates on a busy machine.

    python bench/ingest_cpu.py [--requests 20000] [--connections 64] [--batches 40]

Feeds raw HTTP requests over 64 simulated keep-alive connections into uvicorn's httptools protocol, with
the platform's lane protocol and ingestion app (real SQLite store, WAL, synchronous=FULL, group commit on
the writer thread) and, in the same process, uvicorn's plain protocol with the bare Starlette route of
`bench/bare_app.py`. Measures process CPU time (every thread) per request. Sockets are left out (a fake
transport): they cost both servers the same, so when both are CPU-bound the rate ratio of `make bench` is
at least the CPU ratio printed here (bare µs / platform µs).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class FakeTransport:
    """Just enough of an asyncio transport for uvicorn's protocol; `on_write` gets every response."""

    def __init__(self, on_write):
        self.on_write, self.closing = on_write, False

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.on_write(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def set_protocol(self, protocol) -> None: ...


KEY = b""  # the platform's device key (set in main); the bare route ignores it


def request(body: bytes) -> bytes:
    head = (
        b"POST /api/ingest HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nX-API-Key: "
        + KEY
        + b"\r\n"
    )
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def drive(protocol_class, config, state, bodies_per_connection: list[list[bytes]]) -> int:
    """Send each connection's requests one after the other (keep-alive); returns the number of answers."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    remaining = [sum(len(b) for b in bodies_per_connection)]
    statuses: dict[bytes, int] = {}

    def connection(bodies: list[bytes]) -> None:
        queue = iter(bodies)
        proto = protocol_class(config=config, server_state=state, app_state={}, _loop=loop)

        def on_write(data: bytes) -> None:
            if not data.startswith(b"HTTP/1.1"):
                return  # uvicorn writes a body separately from its head
            status = data[9:12]
            statuses[status] = statuses.get(status, 0) + 1
            remaining[0] -= 1
            nxt = next(queue, None)
            if nxt is not None:
                loop.call_soon(proto.data_received, request(nxt))
            elif remaining[0] == 0 and not done.done():
                done.set_result(None)

        proto.connection_made(FakeTransport(on_write))
        proto.data_received(request(next(queue)))

    for bodies in bodies_per_connection:
        connection(bodies)
    await done
    bad = {k.decode(): v for k, v in statuses.items() if not k.startswith(b"2")}
    if bad:
        raise RuntimeError(f"non-2xx answers: {bad}")
    return sum(statuses.values())


def reading(sensor: str, room: str, ts: int, co2: int) -> dict:
    values = {"co2": co2, "pm25": 8.5, "tvoc": 120, "temperature": 21.7, "humidity": 44}
    return {"sensor_id": sensor, "enseigne": "Bench", "salle": room, "timestamp": ts, "values": values}


def single_bodies(per_connection: int, connections: int, base: int) -> list[list[bytes]]:
    return [
        [
            orjson.dumps(
                reading(f"bench-{c % 2}", f"Room {c % 2}", base + k * connections + c, 400 + k % 800)
            )
            for k in range(per_connection)
        ]
        for c in range(connections)
    ]


def batch_bodies(count: int, base: int, size: int = 1000) -> list[list[bytes]]:
    bodies = [
        orjson.dumps(
            [
                reading(f"batch-{b % 50}", f"Batch {b % 10}", base + (b // 50) * size + i, 400 + i % 800)
                for i in range(size)
            ]
        )
        for b in range(count)
    ]
    return [bodies[i::4] for i in range(4)]  # 4 connections, as bench/ingest.py


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="iaq-bench-cpu-")
    os.environ.update(IAQ_DATA_DIR=data_dir, IAQ_DEMO="0", IAQ_LOG_LEVEL="WARNING")
    # the device key's rate limit is lifted: the benchmark measures the cost, not the limit
    os.environ.update(IAQ_DEVICE_KEY_RATE="1e12", IAQ_DEVICE_KEY_BURST="1000000000")
    import uvicorn
    from fastapi import FastAPI
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from app.api.ingest import IngestEndpoint
    from app.api.lane import install_device_lane, lane_http_protocol
    from app.auth.edge import Edge
    from app.core.settings import Settings
    from app.main import LatencyMiddleware
    from app.runtime import build_runtime
    from bench.bare_app import app as bare_app

    runtime = build_runtime(Settings())
    holder = FastAPI()
    install_device_lane(holder, LatencyMiddleware(IngestEndpoint(runtime), runtime), Edge((), None))
    lane_protocol = lane_http_protocol(holder, runtime.settings.max_body_bytes)
    platform_config = uvicorn.Config(holder, log_level="warning", lifespan="off")
    bare_config = uvicorn.Config(bare_app, log_level="warning", lifespan="off")
    for config in (platform_config, bare_config):
        config.load()
    state = ServerState()
    runtime.start()
    global KEY
    KEY = runtime.device_keys.create_sync("Bench", "bench", new_site_timezone="UTC").secret.encode()
    base = int(time.time()) - 30 * 86400
    per_connection = max(1, args.requests // args.connections)

    async def measure(protocol_class, config, bodies) -> float:
        gc.collect()
        started = time.process_time()
        answers = await drive(protocol_class, config, state, bodies)
        return (time.process_time() - started) / answers * 1e6

    await drive(lane_protocol, platform_config, state, single_bodies(20, args.connections, base - 86400))
    await drive(HttpToolsProtocol, bare_config, state, single_bodies(20, args.connections, base))
    print(f"CPU per request, in-process, {args.connections} connections (µs; ratio = bare / platform):")
    for r in range(args.rounds):
        bodies = single_bodies(per_connection, args.connections, base - (r + 2) * 1_000_000)
        platform_us = await measure(lane_protocol, platform_config, bodies)
        bare_us = await measure(HttpToolsProtocol, bare_config, bodies)
        print(
            f"  single  platform {platform_us:6.1f}  bare {bare_us:6.1f}  ratio {bare_us / platform_us:.2f}"
        )
    for r in range(args.rounds):
        bodies = batch_bodies(args.batches, base - 5 * 86400 - r * 100_000_000 // 1000)
        platform_us = await measure(lane_protocol, platform_config, bodies) / 1000
        bare_us = await measure(HttpToolsProtocol, bare_config, bodies) / 1000
        print(
            f"  batch   platform {platform_us:6.2f} µs a reading ({1e6 / platform_us:6.0f}/s on one core)"
            f"  bare {bare_us:5.2f}"
        )
    await runtime.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
