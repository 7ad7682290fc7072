"""E-mail notifications against a real local SMTP server (aiosmtpd), one that refuses the first message."""

from __future__ import annotations

import asyncio
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from app.core.settings import Settings
from app.runtime import build_runtime
from tests.support.runtimes import series, settle
from tests.support.servers import free_port


class Inbox:
    """aiosmtpd handler: answers `451` (try again later) to the first `fail_first` messages."""

    def __init__(self, fail_first: int = 0):
        self.fail_first, self.refused, self.messages = fail_first, 0, []

    async def handle_DATA(self, server, session, envelope):
        if self.refused < self.fail_first:
            self.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox(fail_first=1)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


async def eventually(condition, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


async def test_raised_and_resolved_alerts_are_mailed_and_a_refused_mail_is_retried(tmp_path, smtp):
    controller, inbox = smtp
    settings = Settings(
        data_dir=tmp_path / "data", alerts_enabled=True, alert_interval_s=3600, score_interval_s=0,
        smtp_host="127.0.0.1", smtp_port=controller.port, smtp_security="none",
        alert_emails_text="ops@example.org, facility@example.org", smtp_from="iaq@example.org",
        webhook_backoff_s=0.1,
    )  # fmt: skip
    rt = build_runtime(settings)
    rt.start()
    try:
        start = int(time.time()) - 30 * 60
        await rt.ingestion.ingest(series([1500] * 7 + [1000], start=start))
        await settle(rt, 8)
        await eventually(lambda: len(inbox.messages) == 2)
        (alert,) = await rt.alerting.list_alerts()
        recipients, raised = next(m for m in inbox.messages if "WARNING" in m[1]["Subject"])
        assert recipients == ["ops@example.org", "facility@example.org"]
        assert raised["Subject"] == "[IAQverse] WARNING: CO₂ high in Maison / Bureau"
        assert raised["From"] == "iaq@example.org"
        assert "co2: 1500 (above 1220; resolves past 1120)" in raised.get_content()
        _, resolved = next(m for m in inbox.messages if "resolved" in m[1]["Subject"])
        assert "by itself, the condition cleared" in resolved.get_content()

        await rt.alerting.notifiers[0].drain()
        attempts = (await rt.alerting.get_alert(alert["id"]))["notifications"]
        assert {n["channel"] for n in attempts} == {"email"}
        assert sorted((n["ok"], n["attempt"]) for n in attempts) == [(False, 1), (True, 1), (True, 2)]
        failed = next(n for n in attempts if not n["ok"])
        assert "451" in failed["detail"]
    finally:
        await rt.stop()


async def test_an_unreachable_mail_server_never_blocks_alerting(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data", alerts_enabled=True, alert_interval_s=3600, score_interval_s=0,
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none",
        alert_emails_text="ops@example.org",
        webhook_urls_text=f"http://127.0.0.1:{free_port()}/hook", webhook_retries=2, webhook_backoff_s=0.05,
    )  # fmt: skip
    rt = build_runtime(settings)
    rt.start()
    try:
        await rt.ingestion.ingest(series([1500] * 7 + [1000], start=int(time.time()) - 30 * 60))
        await settle(rt, 8)
        (alert,) = await rt.alerting.list_alerts()
        assert alert["state"] == "resolved"  # alerting went on while every delivery failed
        for notifier in rt.alerting.notifiers:
            await notifier.drain()
        attempts = (await rt.alerting.get_alert(alert["id"]))["notifications"]
        by_channel = {(n["channel"], n["event"]): [] for n in attempts}
        for n in attempts:
            by_channel[(n["channel"], n["event"])].append((n["attempt"], n["ok"]))
        # raised and resolved by mail, and raised, resolved by webhook: 3 attempts each (1 + 2 retries)
        assert by_channel == {key: [(1, False), (2, False), (3, False)] for key in by_channel}
        assert set(by_channel) == {("email", "raised"), ("email", "resolved"), ("webhook", "raised"),
                                   ("webhook", "resolved")}  # fmt: skip
    finally:
        await rt.stop()
