"""Browser sessions and the platform's edge against real platform processes: cross-site changes made with a
session cookie are refused, sign-in throttling counts a name per client address (believing forwarded
addresses only from IAQ_TRUSTED_PROXIES), cookies are `Secure` over https and live as long as a session,
and every answer, ingestion's too, carries the security headers (HSTS over https)."""

from __future__ import annotations

import asyncio
import time
from contextlib import closing

import httpx
import pytest
import websockets

from tests.support.env import ADMIN_PASSWORD
from tests.support.servers import device_key, platform, raw_http

SESSION_MAX_S = 3600


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A platform behind a trusted proxy on loopback (the tests send the proxy's headers themselves)."""
    env = {"IAQ_TRUSTED_PROXIES": "127.0.0.1", "IAQ_LOGIN_MAX_FAILURES": "3",
           "IAQ_SESSION_MAX": str(SESSION_MAX_S)}  # fmt: skip
    with platform(tmp_path_factory.mktemp("proxied") / "data", **env) as server:
        yield server


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    """A platform that trusts no proxy (the default)."""
    with platform(tmp_path_factory.mktemp("direct") / "data", IAQ_LOGIN_MAX_FAILURES="3") as server:
        yield server


def browser(server, *, address: str | None = None, https: bool = False) -> httpx.Client:
    """A browser-like client: sends this site's Origin; through the proxy, from `address` over `https`."""
    headers = {"Origin": server.anonymous_url}
    if address:
        headers["X-Forwarded-For"] = address
    if https:
        headers["X-Forwarded-Proto"] = "https"
    return httpx.Client(base_url=server.anonymous_url, timeout=10, headers=headers)


def sign_in(client: httpx.Client, password: str = ADMIN_PASSWORD) -> httpx.Response:
    return client.post("/api/auth/login", json={"name": "admin", "password": password})


def test_changes_made_with_a_session_cookie_need_this_sites_origin(direct):
    with closing(browser(direct)) as page:
        assert sign_in(page).status_code == 200
        site = {"name": "Forged"}
        for origin in ("https://evil.example", "null", None):
            headers = {"Origin": origin} if origin else {}
            if origin is None:
                page.headers.pop("Origin")
            refused = page.post("/api/config/sites", json=site, headers=headers)
            assert refused.status_code == 403, (origin, refused.text)
            # a body-less change in a form's content type (what a cross-site <form> sends)
            form = page.post("/api/models/rollback?model_name=x", content=b"a=1",
                             headers={**headers, "content-type": "text/plain"})  # fmt: skip
            assert form.status_code == 403, (origin, form.text)
        page.headers["Origin"] = direct.anonymous_url
        assert page.post("/api/config/sites", json={"name": "Made here"}).status_code == 201
        from_page = {"Origin": "", "Referer": direct.anonymous_url + "/settings"}  # no Origin: the Referer's
        assert (
            page.post("/api/config/sites", json={"name": "By referer"}, headers=from_page).status_code == 201
        )
    with httpx.Client(base_url=direct.url, timeout=10) as script:  # a token is never sent by a browser alone
        assert script.post("/api/config/sites", json={"name": "By a script"}).status_code == 201
        names = {s["name"] for s in script.get("/api/config/sites").json()}
    assert "Forged" not in names and {"Made here", "By a script"} <= names


async def test_a_socket_opened_from_another_sites_page_is_refused(direct):
    with closing(browser(direct)) as page:
        assert sign_in(page).status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
    url = direct.anonymous_url.replace("http", "ws") + "/ws"
    async with websockets.connect(url, additional_headers={"Cookie": cookie},
                                  origin=direct.anonymous_url) as ws:  # fmt: skip
        assert '"connection"' in await asyncio.wait_for(ws.recv(), 5)
        await ws.send('{"type": "ping"}')
        assert "pong" in await asyncio.wait_for(ws.recv(), 5)
    with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed)):
        async with websockets.connect(url, additional_headers={"Cookie": cookie},
                                      origin="https://evil.example") as ws:  # fmt: skip
            await ws.send('{"type": "ping"}')
            await asyncio.wait_for(ws.recv(), 5)


def test_failed_sign_ins_slow_down_that_address_only_and_never_lock_the_owner_out(proxied):
    attacker, owner = "203.0.113.7", "198.51.100.20"
    with closing(browser(proxied, address=attacker)) as guesser:
        statuses = [sign_in(guesser, "wrong-password").status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        waiting = sign_in(guesser)  # even the right password waits, from this address
        assert waiting.status_code == 429 and waiting.headers["retry-after"] == "1"
        time.sleep(1.1)
        assert sign_in(guesser, "wrong-password").status_code == 401
        longer = sign_in(guesser, "wrong-password")
        assert longer.status_code == 429 and int(longer.headers["retry-after"]) == 2  # the delay grows
    with closing(browser(proxied, address=owner)) as own:
        assert sign_in(own).status_code == 200  # the name is not locked for its owner elsewhere
    # a chain of addresses: the rightmost one the trusted proxy did not add is the client's
    with closing(browser(proxied, address=f"{owner}, {attacker}")) as chained:
        assert sign_in(chained).status_code == 429
    with httpx.Client(base_url=proxied.url, timeout=10) as admin:
        events = admin.get("/api/auth/audit", params={"limit": 50}).json()
    failed = {e["address"] for e in events if e["action"] == "login.failed"}
    assert failed == {attacker}


def test_forwarded_addresses_are_ignored_unless_the_proxy_is_trusted(direct):
    """Without IAQ_TRUSTED_PROXIES a guesser cannot escape throttling by inventing addresses."""
    results = []
    for i in range(5):
        with closing(browser(direct, address=f"192.0.2.{i}")) as guesser:
            results.append(
                guesser.post("/api/auth/login", json={"name": "nobody", "password": "x"}).status_code
            )
    assert results[:3] == [401, 401, 401] and 429 in results[3:]


def test_cookies_are_secure_over_https_and_last_as_long_as_a_session(proxied, direct):
    with closing(browser(proxied, address="198.51.100.30", https=True)) as page:
        answer = sign_in(page)
        cookies = answer.headers.get_list("set-cookie")
        assert cookies and all("secure" in c.lower() for c in cookies), cookies
        assert any(f"max-age={SESSION_MAX_S}" in c.lower() for c in cookies), cookies
        assert answer.headers["strict-transport-security"].startswith("max-age=")
    with closing(browser(direct)) as plain:  # over plain http, neither (a browser would drop the cookie)
        answer = sign_in(plain)
        assert not any("secure" in c.lower() for c in answer.headers.get_list("set-cookie"))
        assert "strict-transport-security" not in answer.headers
    with closing(browser(direct, https=True)) as claimed:  # an untrusted peer's claim of https is ignored
        assert "strict-transport-security" not in sign_in(claimed).headers


def test_ingestion_answers_carry_the_security_headers(proxied):
    with httpx.Client(base_url=proxied.url, timeout=10) as admin:
        key = device_key(admin, "Edge", "probe")
    reading = b'{"sensor_id": "e1", "enseigne": "Edge", "salle": "R", "values": {"co2": 500}}'
    answers = {
        "fast path": httpx.post(proxied.anonymous_url + "/api/ingest", content=reading,
                                headers={"X-API-Key": key, "content-type": "application/json"}),
        "refused": httpx.post(proxied.anonymous_url + "/iaq", content=b"{}",
                              headers={"content-type": "application/json"}),
        "over https": httpx.post(proxied.anonymous_url + "/api/ingest", content=reading,
                                 headers={"X-API-Key": key, "content-type": "application/json",
                                          "X-Forwarded-Proto": "https"}),
    }  # fmt: skip
    for name, answer in answers.items():
        assert answer.status_code in (200, 201, 401), (name, answer.text)
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name
    assert "strict-transport-security" in answers["over https"].headers
    assert "strict-transport-security" not in answers["fast path"].headers
    # a chunked body takes the ASGI path instead of the fast one: the same headers
    chunked = raw_http(proxied.url, b"POST /api/ingest HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key.encode()
                       + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                       b"Connection: close\r\n\r\n" + f"{len(reading):x}".encode() + b"\r\n" + reading
                       + b"\r\n0\r\n\r\n")  # fmt: skip
    head = chunked.split(b"\r\n\r\n", 1)[0].lower()
    assert b"x-content-type-options: nosniff" in head and b"content-security-policy" in head
