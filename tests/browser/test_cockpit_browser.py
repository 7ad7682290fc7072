"""A facility manager's actions in headless Chromium, against a real platform process: a new personal access
token shows its secret, an alert is acknowledged and snoozed with a confirmation each (the list that holds the
buttons is refreshed under them), and the server logs no error meanwhile."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.support.browser import server_errors, signed_in_page
from tests.support.servers import platform


def co2_rise(minutes: int = 8) -> list[dict]:
    start = time.time() - minutes * 60
    return [
        {"sensor_id": "b1", "enseigne": "Maison", "salle": "Bureau", "timestamp": start + 60 * i,
         "values": {"co2": 1600}}
        for i in range(minutes)
    ]  # fmt: skip


def test_tokens_and_alerts_confirm_what_was_done_in_the_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with platform(tmp_path / "data", IAQ_ALERTS="1", IAQ_ALERT_INTERVAL="3600") as server:
        with signed_in_page(server, "/settings") as (page, errors):
            page.get_by_label("What the token is for").fill("reporting")
            page.get_by_role("button", name="Make a token").click()
            secret = page.locator(".q-dialog input[readonly]")
            expect(secret).to_have_value(re.compile(r"^\S{20,}$"), timeout=10_000)
            token = secret.input_value()
            me = httpx.get(
                server.anonymous_url + "/api/auth/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert me.status_code == 200 and me.json()["name"] == "admin"  # the secret shown works
            page.get_by_role("button", name="Done").click()

            answer = httpx.post(server.url + "/api/ingest", json=co2_rise(), timeout=10)
            assert answer.status_code == 200, answer.text
            page.goto(server.anonymous_url + "/alerts")
            page.get_by_role("button", name="Acknowledge").first.click(timeout=20_000)
            page.locator(".q-dialog").get_by_role("button", name="Acknowledge").click()
            expect(page.get_by_text("acknowledged by admin")).to_be_visible(timeout=10_000)
            page.get_by_role("button", name="Snooze").first.click()
            page.get_by_text("for 1 hour").click()
            expect(page.get_by_text("snoozed until", exact=False)).to_be_visible(timeout=10_000)
            assert not errors, errors
        problems = server_errors(server)
        assert not problems, "\n".join(problems)
