"""InfluxDB's v1-compatible HTTP API (`/ping`, `/write`, `/query`): what InfluxDB 1.x, 2.x and 3.x all serve.

Queries are InfluxQL built only from escaped identifiers and literals (`ident`, `literal`) and integers we
format ourselves; nothing a user typed is pasted into the query text. Reads run in worker threads (the
time-series port is synchronous, called through `asyncio.to_thread`), so they use a blocking client; the
drainer writes from the event loop with an async one.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import httpx


class InfluxError(RuntimeError):
    """InfluxDB answered with an error (`status` is the HTTP status, 0 when it could not be reached)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status

    @property
    def unreachable(self) -> bool:
        return self.status == 0 or self.status >= 500


class InfluxAuthError(InfluxError):
    """The server answered but refused the credentials."""


def ident(name: str) -> str:
    """An InfluxQL identifier (measurement, field, tag key), double-quoted and escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """An InfluxQL string literal, single-quoted and escaped."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return "'" + escaped + "'"


def auth_headers(token: str | None) -> dict[str, str]:
    """`user:password` is InfluxDB 1.x's basic auth; anything else a 2.x/3.x API token."""
    if not token:
        return {}
    if ":" in token:
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": f"Token {token}"}


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    try:
        message = response.json().get("error") or response.text
    except ValueError:
        message = response.text
    message = f"InfluxDB answered {response.status_code}: {message.strip()[:300]}"
    if response.status_code in (401, 403):
        raise InfluxAuthError(message, response.status_code)
    raise InfluxError(message, response.status_code)


def _results(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("error"):
        raise InfluxError(f"InfluxDB: {body['error']}", 400)
    results = body.get("results") or []
    for result in results:
        if result.get("error"):
            error = result["error"]
            if "authoriz" in error or "privilege" in error:
                raise InfluxAuthError(f"InfluxDB: {error}", 403)
            raise InfluxError(f"InfluxDB: {error}", 400)
    return results


class InfluxHttp:
    """One database (and optionally retention policy) of one server."""

    def __init__(self, url: str, bucket: str, token: str | None = None, *, timeout_s: float = 10.0):
        self.url = url.rstrip("/")
        self.database, _, self.retention = bucket.partition("/")
        self.headers = auth_headers(token)
        self.timeout = httpx.Timeout(timeout_s)
        self._sync: httpx.Client | None = None

    # -- blocking side (start-up, reads in worker threads, the CLI)
    @property
    def client(self) -> httpx.Client:
        if self._sync is None:
            self._sync = httpx.Client(base_url=self.url, headers=self.headers, timeout=self.timeout)
        return self._sync

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    def _get(self, params: dict[str, str], *, post: bool = False) -> httpx.Response:
        try:
            if post:
                return self.client.post("/query", data=params)
            return self.client.get("/query", params=params)
        except httpx.HTTPError as exc:
            raise InfluxError(f"InfluxDB at {self.url} cannot be reached: {type(exc).__name__}") from exc

    def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL on the database; returns the series of the first statement (times in ms)."""
        params = {"db": self.database, "q": q, "epoch": "ms"}
        if self.retention:
            params["rp"] = self.retention
        response = self._get(params)
        if response.status_code == 404 or "database not found" in response.text[:200]:
            return []  # nothing written yet: the drainer creates the database with its first batch
        _raise_for(response)
        results = _results(response.json())
        return results[0].get("series", []) if results else []

    def execute(self, q: str) -> None:
        """Run a statement that changes data (POST), e.g. DELETE."""
        params = {"db": self.database, "q": q}
        if self.retention:
            params["rp"] = self.retention
        response = self._get(params, post=True)
        _raise_for(response)
        _results(response.json())

    def ensure_database(self) -> bool:
        """Check the credentials and create the database when allowed. Returns False when InfluxDB is not
        reachable (the outbox waits for it); raises InfluxAuthError when it answers but refuses us."""
        try:
            self.client.get("/ping")
        except httpx.HTTPError:
            return False
        # a statement that needs valid credentials whatever the privileges: tells bad credentials apart
        response = self._get({"q": "SHOW DATABASES"})
        if response.status_code >= 500:
            return False
        _raise_for(response)
        try:
            listed = _results(response.json())
        except InfluxAuthError:
            listed = []  # valid user without the privilege to list: try to create, else assume it exists
        names = {row[0] for r in listed for s in r.get("series", []) for row in s.get("values", [])}
        if self.database not in names:
            response = self._get({"q": f"CREATE DATABASE {ident(self.database)}"}, post=True)
            if response.status_code >= 500:
                return False
            _raise_for(response)
            # not an admin: the database must exist already; writes will say so if it does not
            with contextlib.suppress(InfluxAuthError):
                _results(response.json())
        return True

    # -- async side (the drainer)
    async def write(self, client: httpx.AsyncClient, lines: list[str]) -> None:
        """POST line protocol (ms precision). Raises InfluxError; status 400: the points were refused."""
        params = {"db": self.database, "precision": "ms"}
        if self.retention:
            params["rp"] = self.retention
        try:
            response = await client.post(
                self.url + "/write", params=params, content="\n".join(lines).encode()
            )
        except httpx.HTTPError as exc:
            raise InfluxError(f"InfluxDB at {self.url} cannot be reached: {type(exc).__name__}") from exc
        _raise_for(response)

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=self.headers, timeout=self.timeout)

    def write_sync(self, lines: list[str]) -> None:
        params = {"db": self.database, "precision": "ms"}
        if self.retention:
            params["rp"] = self.retention
        try:
            response = self.client.post("/write", params=params, content="\n".join(lines).encode())
        except httpx.HTTPError as exc:
            raise InfluxError(f"InfluxDB at {self.url} cannot be reached: {type(exc).__name__}") from exc
        _raise_for(response)
