"""A real MQTT broker for tests: Debian's mosquitto on a free loopback port, with a config file of its own.

`restart()` stops and starts it again on the same port (a broker outage in the middle of a test).
A missing broker is a failure that says what to install, never a skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.mqtt import NO_DELAY

from .servers import free_port


def _binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not found:
        pytest.fail(
            "the MQTT broker is not installed: apt-get install mosquitto mosquitto-clients", pytrace=False
        )
    return found


class Broker:
    """`persistence`: sessions and queued messages survive a restart, as a production broker keeps them."""

    def __init__(self, *, persistence: bool = False) -> None:
        self.binary = _binary()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.folder = Path(tempfile.mkdtemp(prefix="iaq-mqtt-"))
        self.config = self.folder / "mosquitto.conf"
        kept = (
            f"persistence true\npersistence_location {self.folder}/\n"
            if persistence
            else "persistence false\n"
        )
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{kept}set_tcp_nodelay true\n"
            f"log_dest file {self.folder / 'mosquitto.log'}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10) -> Broker:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    error = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
                    self.stop()
                    raise RuntimeError(f"mosquitto did not start on port {self.port}: {error}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def mosquitto_server(*, persistence: bool = False) -> Iterator[Broker]:
    broker = Broker(persistence=persistence).start()
    try:
        yield broker
    finally:
        broker.cleanup()


class FakeDevice:
    """A device on the broker: takes the commands of `topic` (`<topic>/set`) and, unless `silent`, reports the
    state it was asked for on `<topic>/state` (retained), as a real actuator would. `persistent`: a session
    the broker keeps while the device is away (QoS 1 messages wait for it), under a fixed client id."""

    def __init__(self, broker: Broker, topic: str, *, silent: bool = False, persistent: bool = False):
        self.broker, self.topic, self.silent, self.persistent = broker, topic, silent, persistent
        self.commands: list[dict] = []
        self.qos: list[int] = []
        self.state: dict = {}
        self.connects = 0  # subscribed connections so far (a broker restart adds one)
        self._task = None
        self._ready = None

    async def __aenter__(self) -> FakeDevice:
        import asyncio

        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc) -> None:
        import asyncio
        import contextlib

        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def report(self, state: dict) -> None:
        """Report a state on its own (someone switched it by hand, or it did a command late)."""
        import json

        import aiomqtt

        self.state = {**self.state, **state}
        async with aiomqtt.Client(self.broker.host, self.broker.port) as client:
            await client.publish(f"{self.topic}/state", json.dumps(self.state), qos=1, retain=True)

    async def _run(self) -> None:
        import asyncio
        import json

        import aiomqtt

        while True:  # like a real device: back after a broker restart
            try:
                # TCP_NODELAY, as the platform's bridge: no ~40 ms Nagle wait on each small publication
                session = {"identifier": f"device-{self.topic.replace('/', '-')}", "clean_session": False}
                async with aiomqtt.Client(
                    self.broker.host, self.broker.port, socket_options=NO_DELAY,
                    **(session if self.persistent else {}),
                ) as client:  # fmt: skip
                    await client.subscribe(f"{self.topic}/set", qos=1)
                    self.connects += 1
                    self._ready.set()
                    async for message in client.messages:
                        command = json.loads(message.payload)
                        self.commands.append(command)
                        self.qos.append(message.qos)
                        if not self.silent:
                            self.state = {**self.state, **command["state"]}
                            await client.publish(
                                f"{self.topic}/state", json.dumps(self.state), qos=1, retain=True
                            )
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)


async def publish(broker: Broker, topic: str, payload, *, retain: bool = False) -> None:
    """Publish one message (JSON for dicts and lists) with QoS 1, as a sensor or a device would."""
    import json

    import aiomqtt

    data = json.dumps(payload) if isinstance(payload, dict | list) else payload
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, data, qos=1, retain=retain)
