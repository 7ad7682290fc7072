"""A real InfluxDB 1.x server for tests: `influxd` with a generated config, data in a temporary folder,
HTTP on a free loopback port. It can be stopped and started again on the same port and data (outage tests).

A missing `influxd` is a failure that says what to install, never a skip.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .servers import free_port

_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  auth-enabled = {auth}
"""


class InfluxServer:
    def __init__(self, *, auth: bool = False):
        binary = shutil.which("influxd") or (
            "/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None
        )
        if binary is None:
            pytest.fail("InfluxDB's influxd is not installed: apt-get install influxdb", pytrace=False)
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="iaq-influx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.root / "influxd.conf"
        self.config.write_text(
            _CONFIG.format(root=self.root, port=self.port, rpc_port=free_port(), auth=str(auth).lower())
        )
        self.proc: subprocess.Popen | None = None
        self.auth: tuple[str, str] | None = None

    def start(self, timeout_s: float = 30) -> InfluxServer:
        log = (self.root / "influxd.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "-config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/ping", timeout=1).status_code == 204:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"influxd did not answer within {timeout_s} s: {self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        path = self.root / "influxd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def create_admin(self, user: str, password: str) -> None:
        """With auth on, the first admin can be created without credentials; later calls use them."""
        self.query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES", post=True)
        self.auth = (user, password)

    def query(self, q: str, db: str | None = None, *, post: bool = False) -> list[dict]:
        """Run InfluxQL; returns the series of the first statement (times in ms)."""
        params = {"q": q, "epoch": "ms", **({"db": db} if db else {})}
        if post:
            response = httpx.post(self.url + "/query", data=params, auth=self.auth, timeout=10)
        else:
            response = httpx.get(self.url + "/query", params=params, auth=self.auth, timeout=10)
        response.raise_for_status()
        result = response.json()["results"][0]
        assert "error" not in result, result["error"]
        return result.get("series", [])

    def points(self, db: str, measurement: str = "iaq_raw") -> list[dict]:
        """Every point of a measurement as a dict of its columns (tags and fields)."""
        out = []
        for series in self.query(f'SELECT * FROM "{measurement}"', db):
            out += [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]
        return out

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def influx_server(*, auth: bool = False) -> Iterator[InfluxServer]:
    server = InfluxServer(auth=auth).start()
    try:
        yield server
    finally:
        server.cleanup()
