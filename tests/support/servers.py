"""Start real servers for tests: the platform itself as a subprocess on a free loopback port."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .env import ADMIN_PASSWORD, ADMIN_TOKEN, ROOT, server_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PlatformProcess:
    """`python -m app` on 127.0.0.1 with its own data folder.

    `url` carries the first admin's personal access token as its user info (`http://admin:TOKEN@host:port`):
    httpx, websockets and the simulator send it as HTTP Basic credentials, which the platform accepts (the
    token as password), so every client built from `url` is signed in. `anonymous_url` is the bare address,
    for tests of refusal."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.anonymous_url = f"http://127.0.0.1:{self.port}"
        self.url = f"http://admin:{ADMIN_TOKEN}@127.0.0.1:{self.port}"
        self.token, self.admin_password = ADMIN_TOKEN, ADMIN_PASSWORD
        defaults = {
            "IAQ_DEMO": "0",
            "IAQ_LOG_LEVEL": "WARNING",
            "IAQ_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "IAQ_ADMIN_TOKEN": ADMIN_TOKEN,
            "IAQ_RAW_RETENTION_DAYS": "0",  # raw readings kept: tests use fixed past dates
        }
        self.env = server_env(
            **{
                **defaults,
                **env,
                "IAQ_DATA_DIR": str(data_dir),
                "IAQ_HOST": "127.0.0.1",
                "IAQ_PORT": str(self.port),
            }
        )
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"platform-{self.port}.log"

    def start(self, timeout_s: float = 30) -> PlatformProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the platform exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the platform did not answer within {timeout_s} s:\n{self.log()}")

    def client(self, **kwargs) -> httpx.Client:
        """An HTTP client of this server (the one place to add credentials for tests that start their own)."""
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 10), **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a power cut of the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def platform(data_dir: Path, **env: str) -> Iterator[PlatformProcess]:
    server = PlatformProcess(data_dir, **env).start()
    try:
        yield server
    finally:
        server.stop()


def raw_http(url: str, data: bytes, timeout_s: float = 10) -> bytes:
    """Send raw bytes on one TCP connection to a platform and return all it answers until it closes the
    connection: for HTTP behaviour that clients hide (pipelined requests, HTTP/1.0). The last request sent
    should ask for `Connection: close`."""
    parts = urlsplit(url)  # a platform's url may carry credentials: they are not sent here
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


class WebhookReceiver:
    """A small HTTP server in a thread that records the JSON bodies POSTed to it.

    `fail_first` answers that many requests per path with 500 before accepting, like a receiver that is
    briefly down."""

    def __init__(self, *, fail_first: int = 0):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict] = []
        self.refused = 0
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if receiver.refused < receiver.fail_first:
                    receiver.refused += 1
                    self.send_response(500)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def browser_sign_in(page, server: PlatformProcess, path: str = "/") -> None:
    """Sign a Playwright page in as the first admin through the sign-in page, as a person would, then
    land on `path` (browsers do not send the user info of `server.url`)."""
    from urllib.parse import quote

    page.goto(
        f"{server.anonymous_url}/login?redirect_to={quote(path, safe='')}", wait_until="domcontentloaded"
    )
    page.get_by_label(re.compile("^(User name|Nom d'utilisateur)$")).fill("admin")  # the browser's language
    page.get_by_label(re.compile("^(Password|Mot de passe)$")).fill(server.admin_password)
    page.get_by_role("button", name=re.compile("^(Sign in|Se connecter)$")).click()
    page.wait_for_url(f"{server.anonymous_url}{path}", timeout=20_000)


def device_key(api: httpx.Client, site: str, name: str = "device") -> str:
    """A device key of `site` made over the API by an admin client, the site created first when it is new
    (a key is only made for a site that exists). Benchmarks use it too."""
    created = api.post("/api/config/sites", json={"name": site})
    assert created.status_code in (201, 409), created.text  # 409: the site exists already
    made = api.post("/api/auth/keys", json={"site": site, "name": name})
    assert made.status_code == 201, made.text
    return made.json()["key"]
