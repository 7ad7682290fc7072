"""An HTTP sink posting reading batches to a running platform's ``/api/ingest``."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import httpx

PROGRESS_EVERY_S = 10.0
MAX_BACKOFF_S = 30.0
MAX_BODY_CHARS = 500


class ServerUnreachable(Exception):
    """The platform never answered, even after the retries."""


class IngestClient:
    """Posts JSON arrays of payloads; retries connection errors and 5xx, reports 4xx and moves on.

    Use as ``async with IngestClient(url) as client: await client.send(payloads)``.
    ``send`` raises :class:`ServerUnreachable` only if the server has never answered;
    once it has, a batch that still fails after the retries is dropped with a message.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        retries: int = 5,
        timeout_s: float = 10.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.url = base_url.rstrip("/") + "/api/ingest"
        self.retries = retries
        self.sent = self.rejected = self.dropped = 0
        self.ever_answered = False
        headers = {"Authorization": f"Bearer {api_key}", "X-API-Key": api_key} if api_key else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout_s)
        self._sleep = sleep
        self._last_progress: float | None = None
        self._last_rejection: tuple[str, float] = ("", 0.0)

    async def __aenter__(self) -> IngestClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def send(self, payloads: list[dict]) -> int:
        """Post one batch; return how many readings the server accepted (0 if rejected or dropped)."""
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await self._sleep(min(MAX_BACKOFF_S, 0.5 * 2 ** (attempt - 1)))
            try:
                response = await self._client.post(self.url, json=payloads)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            self.ever_answered = True
            if response.status_code < 300:
                self.sent += len(payloads)
                self._maybe_report_progress()
                return len(payloads)
            body = response.text.strip()[:MAX_BODY_CHARS]
            if response.status_code < 500:
                # The server understood and said no: retrying the same body cannot help. But a batch is
                # refused whole for one bad reading (a glitch in a recording): resend it without those.
                bad = (
                    _refused_positions(response)
                    if response.status_code == 422 and len(payloads) > 1
                    else set()
                )
                self.rejected += len(bad) or len(payloads)
                self._report_rejection(response.status_code, body, len(bad) or len(payloads))
                if bad and len(bad) < len(payloads):
                    return await self.send([p for i, p in enumerate(payloads) if i not in bad])
                return 0
            problem = f"HTTP {response.status_code}: {body}"
        attempts = self.retries + 1
        if not self.ever_answered:
            raise ServerUnreachable(f"no answer from {self.url} after {attempts} attempts ({problem})")
        self.dropped += len(payloads)
        print(f"dropped {len(payloads)} readings after {attempts} attempts: {problem}", file=sys.stderr)
        return 0

    def summary(self) -> str:
        """One line totalling what happened so far."""
        extra = [
            f"{count} {what}"
            for count, what in ((self.rejected, "rejected"), (self.dropped, "dropped"))
            if count
        ]
        return f"sent {self.sent} readings to {self.url}" + (f" ({', '.join(extra)})" if extra else "")

    def _maybe_report_progress(self) -> None:
        # First success, then every PROGRESS_EVERY_S: alive without being chatty.
        now = time.monotonic()
        if self._last_progress is None or now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            print(self.summary(), flush=True)

    def _report_rejection(self, status: int, body: str, count: int) -> None:
        # Same message over and over would flood the terminal: repeat it at most every 10 s.
        now = time.monotonic()
        last_body, last_at = self._last_rejection
        if body != last_body or now - last_at >= PROGRESS_EVERY_S:
            self._last_rejection = (body, now)
            print(f"server rejected {count} readings (HTTP {status}): {body}", file=sys.stderr, flush=True)


def _refused_positions(response: httpx.Response) -> set[int]:
    """Positions of the readings a 422 names (fields like `[12].values.temperature`)."""
    try:
        detail = response.json().get("detail") or []
    except ValueError:
        return set()
    positions = set()
    for error in detail:
        field = str(error.get("field", "")) if isinstance(error, dict) else ""
        if field.startswith("[") and "]" in field and field[1 : field.index("]")].isdigit():
            positions.add(int(field[1 : field.index("]")]))
    return positions
