"""Single sign-on end to end: a real OpenID Connect provider (`oidc-provider-mock`, an Authlib-based
provider with discovery, signed ID tokens and JWKS) on a loopback port, the platform as a real process,
and an HTTP client that follows every redirect and submits the provider's sign-in form as a browser would."""

from __future__ import annotations

import re
from contextlib import closing
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.support.servers import platform

try:
    from oidc_provider_mock import User, run_server_in_thread
except ImportError:  # a missing test dependency is a failure with a hint, never a skip
    User = run_server_in_thread = None


@pytest.fixture(scope="module")
def provider():
    assert run_server_in_thread is not None, (
        "install the test extras: pip install -e '.[dev]' (oidc-provider-mock)"
    )
    users = [
        User(sub="alice", claims={"email": "alice@example.org", "groups": ["iaq-admins", "staff"]}),
        User(sub="bob", claims={"email": "bob@example.org", "groups": ["staff"]}),
        User(sub="eve", claims={"email": "eve@example.org", "groups": ["visitors"]}),
    ]
    with run_server_in_thread(user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory, provider):
    env = {
        "IAQ_OIDC_ISSUER": provider,
        "IAQ_OIDC_CLIENT_ID": "iaqverse",
        "IAQ_OIDC_CLIENT_SECRET": "client-secret",
        "IAQ_OIDC_ROLE_MAP": '{"iaq-admins": "admin", "staff": "viewer"}',
        "IAQ_LOCAL_LOGIN": "0",
    }
    with platform(tmp_path_factory.mktemp("oidc") / "data", **env) as srv:
        yield srv


def sso_sign_in(server, subject: str, target: str = "/reports") -> tuple[httpx.Client, httpx.Response]:
    """Click 'single sign-on', pick the user on the provider's form, come back: a browser's way."""
    browser = httpx.Client(base_url=server.anonymous_url, timeout=10, follow_redirects=True)
    page = browser.get(target)  # the platform sends an anonymous visitor to its sign-in page
    assert urlparse(str(page.url)).path == "/login"
    form = browser.get("/auth/oidc/login", params={"redirect_to": target})  # the button's target
    assert form.status_code == 200 and 'name="sub"' in form.text, form.text[:500]
    request = parse_qs(urlparse(str(form.url)).query)
    assert request["code_challenge_method"] == ["S256"] and len(request["code_challenge"][0]) >= 43
    assert request["response_type"] == ["code"] and "nonce" in request
    back = browser.post(str(form.url), data={"sub": subject})  # the provider redirects to the callback
    return browser, back


def test_single_sign_on_signs_in_with_the_role_of_the_claims(server):
    browser, back = sso_sign_in(server, "alice")
    with closing(browser):
        assert back.status_code == 200 and urlparse(str(back.url)).path == "/reports"
        assert [urlparse(str(r.url)).path for r in back.history] == [
            "/oauth2/authorize",
            "/auth/oidc/callback",
        ]
        assert browser.get("/api/auth/me").json() == {
            "name": "alice@example.org",
            "role": "admin",
            "sites": None,
            "via": "session",
        }
        assert browser.get("/settings").status_code == 200
        browser.get("/logout")  # a GET (a link, an image of another site) never signs out
        assert browser.get("/api/auth/me").status_code == 200
        assert browser.post("/logout", headers={"Origin": "https://evil.example"}).status_code == 403
        assert browser.get("/api/auth/me").status_code == 200
        browser.post("/logout", headers={"Origin": server.anonymous_url})
        assert browser.get("/api/auth/me").status_code == 401


def test_claims_without_a_role_are_refused_and_a_viewer_stays_a_viewer(server, api):
    browser, back = sso_sign_in(server, "eve")
    with closing(browser):
        assert back.status_code == 403 and "no role" in back.text
        assert browser.get("/api/auth/me").status_code == 401
    browser, back = sso_sign_in(server, "bob", target="/")
    with closing(browser):
        assert back.status_code == 200
        assert browser.get("/api/auth/me").json()["role"] == "viewer"
        assert browser.get("/settings").status_code == 403
    users = {u["name"]: u for u in api.get("/api/auth/users").json()}
    assert users["bob@example.org"]["sso"] and not users["bob@example.org"]["local_password"]
    failures = [e for e in api.get("/api/auth/audit").json() if e["action"] == "login.failed"]
    assert any(e["actor"] == "eve@example.org" for e in failures)


def test_a_forged_callback_is_refused(server):
    with httpx.Client(base_url=server.anonymous_url, timeout=10) as browser:
        forged = browser.get("/auth/oidc/callback", params={"code": "stolen", "state": "guessed"})
        assert forged.status_code == 401
        assert browser.get("/api/auth/me").status_code == 401


def test_local_sign_in_is_off_when_single_sign_on_replaces_it(server):
    with httpx.Client(base_url=server.anonymous_url, timeout=10) as browser:
        refused = browser.post("/api/auth/login", json={"name": "admin", "password": server.admin_password})
        assert refused.status_code == 403
        page = browser.get("/login")
        assert page.status_code == 200 and re.search(r"single sign-on", page.text)
