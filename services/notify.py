"""Notifications of alert events to the outside: webhooks (JSON POST) and e-mail (SMTP), with retries.

`notify` never waits: each delivery is a task of its own, so a slow or failing receiver delays neither
alerting nor the other receivers. A failed attempt is retried after `backoff_s`, then twice as long each
time, `retries` times at most. Every attempt, failed or not, is recorded (`notifications` table).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import httpx

from app.core.domain.alerts import OFFLINE
from app.core.i18n import N_, _, number, term

log = logging.getLogger(__name__)

# (alert id, event, channel, target, attempt, ok, detail) -> None; blocking, called from a thread
Recorder = Callable[[int, str, str, str, int, bool, str | None], None]


class RetryingNotifier:
    """Delivery with retries and recorded attempts; subclasses say where to (`targets`) and how (`send`)."""

    channel = "?"
    events: tuple[str, ...] = ("raised", "acknowledged", "resolved")

    def __init__(
        self, record: Recorder, *, retries: int = 5, backoff_s: float = 2.0, max_parallel: int = 20
    ) -> None:
        self.record, self.retries, self.backoff_s = record, retries, backoff_s
        self._limit = asyncio.Semaphore(max_parallel)
        self._tasks: set[asyncio.Task] = set()
        self.delivered = 0
        self.failed = 0

    def targets(self) -> list[str]:
        raise NotImplementedError

    async def send(self, target: str, event: str, alert: dict[str, Any]) -> tuple[bool, str]:
        """One attempt: (delivered, detail for the record)."""
        raise NotImplementedError

    def notify(self, event: str, alert: dict[str, Any]) -> None:
        if event not in self.events:
            return
        for target in self.targets():
            task = asyncio.create_task(self._deliver(target, event, alert), name=f"{self.channel} {target}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, target: str, event: str, alert: dict[str, Any]) -> None:
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            async with self._limit:
                try:
                    ok, detail = await self.send(target, event, alert)
                except Exception as exc:  # any failure of one attempt is recorded and retried
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
            await self._record(alert["id"], event, target, attempt, ok, detail)
            if ok:
                self.delivered += 1
                return
            if attempt <= self.retries:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        self.failed += 1
        log.warning("%s %s: alert %s (%s) not delivered after %d attempts", self.channel, target,
                    alert["id"], event, attempts)  # fmt: skip

    async def _record(
        self, alert_id: int, event: str, target: str, attempt: int, ok: bool, detail: str
    ) -> None:
        try:
            await asyncio.to_thread(self.record, alert_id, event, self.channel, target, attempt, ok, detail)
        except Exception:
            log.exception("could not record a notification attempt")

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait a little for deliveries under way (tests, shut-down), then give up on the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class WebhookNotifier(RetryingNotifier):
    """POSTs `{"type": "alert", "event": ..., "alert": {...}, "text": ...}` to every URL (`text`: one line
    for a person, in the deployment's language, as chat tools' incoming webhooks show it); 2xx: delivered."""

    channel = "webhook"

    def __init__(self, urls: list[str], record: Recorder, *, timeout_s: float = 10.0, **options: Any) -> None:
        super().__init__(record, **options)
        self.urls, self.timeout_s = urls, timeout_s
        self._client: httpx.AsyncClient | None = None

    def targets(self) -> list[str]:
        return self.urls

    async def send(self, target: str, event: str, alert: dict[str, Any]) -> tuple[bool, str]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            body = {"type": "alert", "event": event, "alert": alert, "text": email_subject(event, alert)}
            answer = await self._client.post(target, json=body)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return answer.is_success, f"HTTP {answer.status_code}"

    async def close(self) -> None:
        await super().close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


_EVENTS = {"raised": N_("raised"), "acknowledged": N_("acknowledged"), "resolved": N_("resolved")}


def email_subject(event: str, alert: dict[str, Any]) -> str:
    """`[IAQverse] WARNING: CO₂ high in Head office / Open space` in the deployment's language (IAQ_LANGUAGE);
    also the `text` of webhooks, which chat tools show as the message."""
    name = alert["rule"] or ""
    rule, where = _(name), f"{alert['enseigne']} / {alert['salle']}"
    what = _("resolved") if event == "resolved" else term("severity", alert["severity"]).upper()
    return _("[IAQverse] {what}: {rule} in {where}").format(what=what, rule=rule, where=where)


def email_body(event: str, alert: dict[str, Any]) -> str:
    name = alert["rule"] or ""
    rule, where = _(name), f"{alert['enseigne']} / {alert['salle']}"
    happened = _(_EVENTS.get(event, event))
    lines = [_("{rule} in {where}: {event}.").format(rule=rule, where=where, event=happened)]
    if alert["metric"] == OFFLINE:
        lines.append(_("Sensor {sensor} stopped reporting.").format(sensor=alert["sensor_id"]))
    else:
        value, threshold, reset, peak = (
            number(alert[k], 2, fixed=False, grouped=False) for k in ("value", "threshold", "reset", "peak")
        )
        lines.append(
            _("{metric}: {value} ({direction} {threshold}; resolves past {reset}); peak {peak}.").format(
                metric=alert["metric"], value=value, direction=term("direction", alert["direction"]),
                threshold=threshold, reset=reset, peak=peak,
            )
        )  # fmt: skip
    lines.append(_("Raised at {time}.").format(time=alert["raised_at"]))
    if event == "resolved":
        by = alert["resolved_by"] or _("itself, the condition cleared")
        lines.append(_("Resolved at {time} by {who}.").format(time=alert["resolved_at"], who=by))
    return "\n".join(lines) + "\n"


class EmailNotifier(RetryingNotifier):
    """One message per raised or resolved alert to all recipients, over SMTP (STARTTLS, SSL or plain)."""

    channel = "email"
    events = ("raised", "resolved")  # acknowledging is the recipients' own doing: no mail for it

    def __init__(
        self,
        recipients: list[str],
        record: Recorder,
        *,
        host: str,
        port: int = 587,
        security: str = "starttls",
        user: str | None = None,
        password: str | None = None,
        sender: str = "iaqverse@localhost",
        timeout_s: float = 15.0,
        **options: Any,
    ) -> None:
        super().__init__(record, **options)
        self.recipients, self.host, self.port, self.security = recipients, host, port, security
        self.user, self.password, self.sender, self.timeout_s = user, password, sender, timeout_s

    def targets(self) -> list[str]:
        return [", ".join(self.recipients)] if self.recipients else []

    async def send(self, target: str, event: str, alert: dict[str, Any]) -> tuple[bool, str]:
        message = EmailMessage()
        message["From"], message["To"] = self.sender, target
        message["Subject"] = email_subject(event, alert)
        message.set_content(email_body(event, alert))
        return await asyncio.to_thread(self._send_blocking, message)

    def _send_blocking(self, message: EmailMessage) -> tuple[bool, str]:
        try:
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            return False, f"{type(exc).__name__}: {exc}"[:500]
        if refused:
            return False, f"refused recipients: {', '.join(refused)}"
        return True, "sent"
