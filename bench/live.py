"""Live latency: with many `/ws` clients subscribed, the time from `POST /api/ingest` to the `measurement`
message on every client, and from `POST /api/execute-action` to the device's reported state (`module_state`)
on every client, the device being a client of a real mosquitto.

    python bench/live.py [--clients 200] [--rounds 50]

The platform runs as its own process with MQTT on; the clients, the device and the timing run in this one.
The reference is a `GET /health` round trip timed in the same run, so the figures can be compared across
machines as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.mosquitto import Broker, FakeDevice  # noqa: E402
from tests.support.servers import PlatformProcess  # noqa: E402

TOPIC = "iaqverse/bench/live/ventilation"


def summary(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


class Listener:
    """One `/ws` client; records when each awaited message arrives."""

    def __init__(self, url: str):
        self.url = url
        self.waiting: dict[str, tuple[float, asyncio.Future]] = {}
        self.latencies: dict[str, list[float]] = {"measurement": [], "module_state": []}

    async def run(self, ready: asyncio.Event, count: list[int], total: int) -> None:
        async with websockets.connect(self.url, max_queue=None) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": ["measurements", "module_states"]}))
            await ws.recv()
            count[0] += 1
            if count[0] == total:
                ready.set()
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                if message["type"] == "measurement":
                    key = f"m:{message['timestamp']}"
                elif message["type"] == "module_state" and message.get("state"):
                    key = f"s:{message['state'].get('on')}"
                else:
                    continue
                entry = self.waiting.pop(key, None)
                if entry is not None:
                    started, future = entry
                    self.latencies["measurement" if key[0] == "m" else "module_state"].append(now - started)
                    future.set_result(None)


async def main(clients: int, rounds: int) -> None:
    broker = Broker().start()
    folder = Path(tempfile.mkdtemp(prefix="iaq-bench-live-"))
    server = PlatformProcess(
        folder / "data", MQTT_BROKER=broker.host, MQTT_PORT=str(broker.port), IAQ_LOG_LEVEL="WARNING"
    ).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            start = int(time.time()) - 3600
            reading = {"sensor_id": "bench-1", "enseigne": "Bench", "salle": "Live", "timestamp": start,
                       "values": {"co2": 500}}  # fmt: skip
            (await http.post("/api/ingest", json=reading)).raise_for_status()
            module = {"enseigne": "Bench", "salle": "Live", "module_type": "ventilation"}
            (await http.post("/api/modules", json=module)).raise_for_status()
            health = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await http.get("/health")
                health.append(time.perf_counter() - t0)

            listeners = [Listener(server.url.replace("http", "ws") + "/ws") for _ in range(clients)]
            ready, count = asyncio.Event(), [0]
            tasks = [asyncio.create_task(listener.run(ready, count, clients)) for listener in listeners]
            await asyncio.wait_for(ready.wait(), 60)

            async def round_trip(key: str, send) -> None:
                loop = asyncio.get_running_loop()
                started = time.perf_counter()
                futures = []
                for listener in listeners:
                    future = loop.create_future()
                    listener.waiting[key] = (started, future)
                    futures.append(future)
                response = await send()
                response.raise_for_status()
                await asyncio.wait_for(asyncio.gather(*futures), 30)

            for i in range(1, rounds + 1):
                ts = start + i
                body = {**reading, "timestamp": ts, "values": {"co2": 500 + i}}
                iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
                await round_trip(f"m:{iso}", lambda b=body: http.post("/api/ingest", json=b))
                await asyncio.sleep(0.05)

            async with FakeDevice(broker, TOPIC):
                for i in range(rounds):
                    on = i % 2 == 0
                    action = {**module, "action_type": "turn_on" if on else "turn_off"}
                    await round_trip(f"s:{on}", lambda a=action: http.post("/api/execute-action", json=a))
                    await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
    finally:
        server.stop()
        broker.cleanup()

    reference = statistics.median(health) * 1000
    print(f"{clients} /ws clients, {rounds} rounds; reference GET /health round trip {reference:.1f} ms")
    paths = {
        "measurement": "POST /api/ingest -> measurement",
        "module_state": "execute-action -> device state (MQTT) -> module_state",
    }
    for name, label in paths.items():
        values = [v for listener in listeners for v in listener.latencies[name]]
        figures = summary(values)
        ratios = " ".join(f"{k.split('_')[0]} {v / reference:.1f}x" for k, v in figures.items())
        print(
            f"{label}: median {figures['median_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, "
            f"max {figures['max_ms']:.1f} ms ({len(values)} receipts; vs reference: {ratios})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.rounds))
