"""Accounts, roles, tokens, device keys and hardening, against a real platform process.

The role matrix covers every endpoint of the app's own OpenAPI document, so endpoints added later are
checked without changing this file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from contextlib import closing

import httpx
import pytest
import websockets

from app.auth.policy import DEVICE, OPEN, Rule, requirement
from app.core.principal import ROLES
from tests.support.env import ADMIN_PASSWORD, ROOT, server_env
from tests.support.servers import device_key, platform

PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with platform(tmp_path_factory.mktemp("auth") / "data") as srv:
        yield srv


def sign_in(server, name: str, password: str = PASSWORD) -> httpx.Client:
    """A browser-like client signed in with a session cookie."""
    client = httpx.Client(base_url=server.anonymous_url, timeout=10, headers={"Origin": server.anonymous_url})
    answer = client.post("/api/auth/login", json={"name": name, "password": password})
    assert answer.status_code == 200, answer.text
    return client


@pytest.fixture(scope="module")
def clients(server):
    """A signed-in client per role (sessions), and an anonymous one."""
    import httpx as h

    with h.Client(base_url=server.url, timeout=10) as admin_api:
        for role in ("viewer", "operator"):
            made = admin_api.post("/api/auth/users", json={"name": role, "role": role, "password": PASSWORD})
            assert made.status_code == 201, made.text
    out = {role: sign_in(server, role) for role in ("viewer", "operator")}
    out["admin"] = sign_in(server, "admin", ADMIN_PASSWORD)
    out["anonymous"] = httpx.Client(base_url=server.anonymous_url, timeout=10)
    yield out
    for client in out.values():
        client.close()


def openapi_operations(api) -> list[tuple[str, str]]:
    schema = api.get("/openapi.json").json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "999999", path))
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def expected_need(method: str, path: str) -> str:
    rule = requirement(method, path)
    return rule.need if isinstance(rule, Rule) else rule


def test_every_endpoint_answers_each_role_as_the_rules_say(api, clients):
    operations = openapi_operations(api)
    assert ("POST", "/api/config/sites") in operations and ("GET", "/api/v2/iaq/data") in operations
    checked = 0
    for method, path in operations:
        need = expected_need(method, path)
        if need in (OPEN, DEVICE):
            continue
        # a body that no endpoint accepts: nothing is changed by the roles that may call it
        kwargs = (
            {"content": b"[]", "headers": {"content-type": "application/json"}} if method != "GET" else {}
        )
        for who, client in clients.items():
            status = client.request(method, path, **kwargs).status_code
            if who == "anonymous":
                assert status == 401, (method, path, who, status)
            elif ROLES.index(who) < ROLES.index(need):
                assert status == 403, (method, path, who, status)
            else:
                assert status not in (401, 403), (method, path, who, status)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        # anonymous, viewer, operator, admin
        ("GET", "/api/config/sites", (401, 200, 200, 200)),
        ("POST", "/api/config/sites", (401, 403, 403, 422)),
        ("POST", "/api/alerts/999999/acknowledge", (401, 403, 404, 404)),
        ("GET", "/api/auth/users", (401, 403, 403, 200)),
        ("GET", "/api/auth/me", (401, 200, 200, 200)),
        ("GET", "/metrics", (401, 403, 403, 200)),
        ("GET", "/openapi.json", (401, 200, 200, 200)),
    ],
)
def test_exact_statuses_of_representative_endpoints(clients, method, path, statuses):
    kwargs = {"json": {"by": "x"}} if method == "POST" else {}
    got = tuple(clients[who].request(method, path, **kwargs).status_code for who in ("anonymous", *ROLES))
    assert got == statuses


@pytest.mark.parametrize("page", ["/", "/alerts", "/reports", "/twin", "/settings"])
def test_pages_send_anonymous_visitors_to_sign_in_and_settings_only_to_admins(clients, page):
    anonymous = clients["anonymous"].get(page)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?redirect_to=")
    for role in ROLES:
        status = clients[role].get(page).status_code
        assert status == (403 if page == "/settings" and role != "admin" else 200), (page, role)
    assert clients["anonymous"].get("/login").status_code == 200


def test_health_tells_anonymous_callers_only_whether_it_is_up(clients):
    assert clients["anonymous"].get("/health").json() == {"status": "ok"}
    assert "checks" in clients["viewer"].get("/health").json()


def test_answers_carry_security_headers_and_no_cross_origin_grant(clients):
    for answer in (clients["viewer"].get("/"), clients["viewer"].get("/api/config/sites")):
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
    docs = clients["viewer"].get("/docs")  # Swagger UI comes from a CDN: allowed there only
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" not in clients["viewer"].get("/").headers["content-security-policy"]
    preflight = clients["anonymous"].options(
        "/api/config/sites",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_oversized_body_is_refused_before_it_is_read(clients):
    huge = b"x" * (30 * 1024 * 1024)
    answer = clients["admin"].post(
        "/api/config/sites", content=huge, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413 and "limit" in answer.json()["error"]


def test_errors_carry_no_stack_trace(clients):
    answer = clients["admin"].post(
        "/api/config/sites", content=b"{", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and "Traceback" not in answer.text


def test_the_openapi_document_describes_the_error_bodies_that_are_sent(api):
    doc = api.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and set(schemas["Problem"]["properties"]) == {
        "error",
        "detail",
    }
    operations = [op for item in doc["paths"].values() for op in item.values()]
    defaults = [op["responses"]["default"]["content"]["application/json"]["schema"] for op in operations]
    assert all(schema["$ref"].endswith("/Problem") for schema in defaults)
    for refused in (
        api.get("/api/alerts", params={"limit": "many"}),  # FastAPI's own parameter check
        api.post(
            "/api/alert-rules", json={"name": "x", "metric": "co2", "trigger": "high"}
        ),  # the validator's
        api.get("/api/alerts/999999"),
        api.delete("/api/alerts"),  # 405
        api.get("/api/no-such-thing"),  # an unknown API path: JSON, not the page
        httpx.get(api.base_url.copy_with(username=None, password=None).join("/api/alerts")),  # 401
    ):
        body = refused.json()
        assert refused.status_code >= 400 and set(body) <= {"error", "detail"} and body["error"], refused.text
        if refused.status_code == 422:
            assert all(set(d) == {"field", "problem"} for d in body["detail"])


HUGE = "1" + "0" * 400  # an integer no float holds


def test_hostile_ids_numbers_and_nesting_get_a_4xx_naming_the_problem(api, server):
    """Ids of 2**63 and more in every path that takes one, integers too large for a float and JSON nested
    thousands deep in every body: a 4xx that says what is wrong, never a 500 or a trace."""
    schema = api.get("/openapi.json").json()
    answers = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            ids = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            if any(p["schema"].get("type") == "integer" for p in operation.get("parameters", [])
                   if p["in"] == "path"):  # fmt: skip
                target = path
                for name in ids:
                    target = target.replace("{" + name + "}", str(2**63))
                answer = api.request(method.upper(), target, json={})
                assert answer.status_code == 422, (method, target, answer.text)
                assert ids[0] in answer.json()["error"] or "id" in answer.json()["error"]
            if method in ("post", "put", "patch"):
                target = re.sub(r"\{[^}]+\}", "1", path)
                for body in (f'{{"name": {HUGE}, "value": {HUGE}, "values": {{"co2": {HUGE}}}}}',
                             "[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000):  # fmt: skip
                    answers.append((method, target, api.request(method.upper(), target, content=body,
                                    headers={"content-type": "application/json"})))  # fmt: skip
    assert len(answers) > 60
    for method, target, answer in answers:  # (a body an endpoint does not read may succeed)
        assert answer.status_code < 500, (method, target, answer.status_code, answer.text[:200])
        assert "Traceback" not in answer.text
    deep = [a for m, t, a in answers if a.status_code == 400 and "nests" in a.text]
    assert len(deep) > 40  # nesting is named as the problem
    # pages by id, and the sign-in endpoint with no account at all
    assert api.get(f"/rooms/{2**70}").status_code == 200  # "room not found", not an error
    with httpx.Client(base_url=server.anonymous_url, timeout=10) as anonymous:
        for body in ("[" * 5000 + "]" * 5000, f'{{"name": {HUGE}, "password": {HUGE}}}'):
            answer = anonymous.post(
                "/api/auth/login", content=body, headers={"content-type": "application/json"}
            )
            assert answer.status_code in (400, 422), answer.text
    ingest = api.post("/api/ingest", content=f'{{"sensor_id": "h", "enseigne": "H", "salle": "H", '
                      f'"timestamp": {HUGE}, "values": {{"co2": {HUGE}}}}}',
                      headers={"content-type": "application/json"})  # fmt: skip
    assert ingest.status_code == 422 and ingest.json()["detail"][0]["field"] in ("timestamp", "values.co2")


def test_personal_access_token_acts_with_its_users_role_until_revoked(server, clients):
    made = clients["viewer"].post("/api/auth/tokens", json={"name": "script"})
    assert made.status_code == 201
    token = made.json()["token"]
    with httpx.Client(base_url=server.anonymous_url, headers={"Authorization": f"Bearer {token}"}) as script:
        assert script.get("/api/auth/me").json()["name"] == "viewer"
        assert script.get("/api/config/sites").status_code == 200
        assert script.post("/api/config/sites", json={"name": "Nope"}).status_code == 403
        listed = clients["viewer"].get("/api/auth/tokens").json()
        assert [t["prefix"] for t in listed] == [token[:12]] and "token" not in listed[0]
        assert clients["viewer"].delete(f"/api/auth/tokens/{made.json()['id']}").status_code == 200
        assert script.get("/api/config/sites").status_code == 401


def test_a_session_cookie_taken_before_sign_in_is_not_signed_in_by_it(server):
    """Session fixation: someone who planted their session cookie in a victim's browser gains nothing when the
    victim signs in with it; the victim's browser, which got the new cookie, is signed in."""
    with (
        closing(httpx.Client(base_url=server.anonymous_url, timeout=10)) as attacker,
        closing(httpx.Client(base_url=server.anonymous_url, timeout=10)) as victim,
    ):
        attacker.get("/login")
        planted = dict(attacker.cookies)
        assert planted, "the sign-in page sets a session cookie"
        victim.cookies.update(planted)
        answer = victim.post("/api/auth/login", json={"name": "admin", "password": ADMIN_PASSWORD})
        assert answer.status_code == 200
        assert victim.get("/api/auth/me").json()["name"] == "admin"
        assert attacker.get("/api/auth/me").status_code == 401
        assert attacker.get("/settings", follow_redirects=False).headers["location"].startswith("/login")


def test_the_page_sign_in_ticket_works_once_and_only_for_its_browser(server):
    with closing(httpx.Client(base_url=server.anonymous_url, timeout=10)) as browser:
        refused = browser.get("/auth/session", params={"ticket": "guessed", "redirect_to": "/alerts"})
        assert refused.status_code == 303 and refused.headers["location"] == "/login?redirect_to=%2Falerts"
        assert browser.get("/api/auth/me").status_code == 401


async def test_websocket_needs_a_principal(server):
    bare = server.anonymous_url.replace("http", "ws") + "/ws"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(bare):
            pass
    assert refused.value.response.status_code == 403
    headers = {"Authorization": f"Bearer {server.token}"}
    async with websockets.connect(bare, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "connection"  # the original's greeting
        await ws.send('{"type": "ping"}')
        assert "pong" in await ws.recv()


def reading(site: str, sensor: str, minute: int = 0) -> dict:
    return {
        "sensor_id": sensor,
        "enseigne": site,
        "salle": "R",
        "timestamp": f"2026-03-01T10:{minute:02d}:00Z",
        "values": {"co2": 600},
    }


def stored(api, site: str) -> int:
    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
    return api.get("/api/v2/iaq/data", params={"enseigne": site, "raw": "true", **window}).json()["count"]


def test_device_key_writes_only_for_its_site(server, api, clients):
    refused = api.post("/api/auth/keys", json={"site": "Keyed", "name": "gateway"})
    assert refused.status_code == 422 and "no site named 'Keyed'" in refused.text  # a typo makes no key
    key = device_key(api, "Keyed", "gateway")
    url = server.anonymous_url
    assert httpx.post(url + "/api/ingest", json=reading("Keyed", "k1")).status_code == 401
    assert (
        httpx.post(url + "/api/ingest", json=reading("Keyed", "k1"), headers={"X-API-Key": key}).status_code
        == 200
    )
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.post(url + "/api/ingest", json=reading("Keyed", "k1", 1), headers=bearer).status_code == 200
    legacy = {
        "capteur_id": "k1",
        "enseigne": "Keyed",
        "salle": "R",
        "timestamp": "2026-03-01T10:02:00Z",
        "co2": 650,
    }
    assert httpx.post(url + f"/iaq?api_key={key}", json=legacy).status_code == 200
    # another site, named or implied by a sensor of another site: refused, nothing stored
    assert httpx.post(url + "/api/ingest", json=reading("Other", "o1"), headers=bearer).status_code == 403
    mixed = [reading("Keyed", "k1", 3), reading("Other", "o1", 3)]
    assert httpx.post(url + "/api/ingest", json=mixed, headers=bearer).status_code == 403
    assert api.post("/api/ingest", json=reading("Other", "o1")).status_code == 200  # the admin's token may
    implied = {"sensor_id": "o1", "timestamp": "2026-03-01T10:05:00Z", "values": {"co2": 700}}
    assert httpx.post(url + "/api/ingest", json=implied, headers=bearer).status_code == 403
    assert stored(api, "Keyed") == 3 and stored(api, "Other") == 1
    # a viewer's token cannot write; a revoked key no longer can
    viewer_token = clients["viewer"].post("/api/auth/tokens", json={"name": "w"}).json()["token"]
    as_viewer = {"Authorization": f"Bearer {viewer_token}"}
    assert httpx.post(url + "/api/ingest", json=reading("Keyed", "k9"), headers=as_viewer).status_code == 403
    listed = api.get("/api/auth/keys").json()
    assert [k["prefix"] for k in listed if k["site"] == "Keyed"] == [key[:12]] and "key" not in listed[0]
    (made,) = [k for k in listed if k["site"] == "Keyed"]
    assert api.delete(f"/api/auth/keys/{made['id']}").status_code == 200
    assert httpx.post(url + "/api/ingest", json=reading("Keyed", "k1", 9), headers=bearer).status_code == 401
    actions = {e["action"] for e in api.get("/api/auth/audit").json()}
    assert {"key.create", "key.revoke", "login", "user.create", "token.create"} <= actions


def test_a_site_scoped_account_sees_only_its_sites(server, api):
    made = api.post(
        "/api/auth/users",
        json={"name": "site-a", "role": "viewer", "password": PASSWORD, "sites": ["Scoped A"]},
    )
    assert made.status_code == 201
    api.post("/api/ingest", json=[reading("Scoped A", "sa"), reading("Scoped B", "sb")])
    with closing(sign_in(server, "site-a")) as scoped:
        assert scoped.get("/api/v2/iaq/data", params={"enseigne": "Scoped A"}).status_code == 200
        assert scoped.get("/api/v2/iaq/data", params={"enseigne": "Scoped B"}).status_code == 403
        assert scoped.get("/api/config/sites").status_code == 403  # would list every site
        assert scoped.get("/api/auth/me").json()["sites"] == ["Scoped A"]


def test_every_change_through_the_api_is_in_the_audit_log(api, clients):
    assert clients["admin"].post("/api/config/sites", json={"name": "Audited"}).status_code == 201
    events = api.get("/api/auth/audit").json()
    assert any(
        e["action"] == "request" and e["target"] == "POST /api/config/sites" and e["actor"] == "admin"
        for e in events
    )


def test_user_management_names_the_bad_field_and_keeps_an_admin(api):
    bad = api.post("/api/auth/users", json={"name": "x", "role": "superuser", "password": PASSWORD})
    assert bad.status_code == 422 and bad.json()["error"].startswith("role:")
    short = api.post("/api/auth/users", json={"name": "y", "role": "viewer", "password": "short"})
    assert short.status_code == 422 and short.json()["error"].startswith("password:")
    admin = next(u for u in api.get("/api/auth/users").json() if u["name"] == "admin")
    assert api.patch(f"/api/auth/users/{admin['id']}", json={"role": "viewer"}).status_code == 409
    assert "password_hash" not in admin


@pytest.mark.slow
def test_cli_makes_keys_and_tokens_that_a_running_platform_accepts(server, api):
    env = server_env(IAQ_DATA_DIR=str(server.data_dir))
    command = [sys.executable, "-m", "app.cli"]
    key = subprocess.run(
        [*command, "create-api-key", "--site", "Cli site"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert key.returncode == 0, key.stderr
    answer = httpx.post(
        server.anonymous_url + "/api/ingest",
        json=reading("Cli site", "c1"),
        headers={"Authorization": f"Bearer {key.stdout.strip()}"},
    )
    assert answer.status_code == 200
    user = subprocess.run(
        [*command, "create-user", "cli-op", "--role", "operator"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert user.returncode == 0 and "password:" in user.stdout, user.stderr
    token = subprocess.run(
        [*command, "create-token", "--user", "cli-op"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    me = httpx.get(
        server.anonymous_url + "/api/auth/me", headers={"Authorization": f"Bearer {token.stdout.strip()}"}
    )
    assert me.json() == {"name": "cli-op", "role": "operator", "sites": None, "via": "token"}
    missing = subprocess.run(
        [*command, "create-token", "--user", "nobody"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1 and "nobody" in missing.stderr


def test_the_simulator_writes_with_a_device_key_for_its_site_only(server, api):
    def simulate(key: str) -> subprocess.CompletedProcess:
        args = ["--url", server.anonymous_url, "--api-key", key, "--rooms", "1", "--interval", "0.05"]
        command = [sys.executable, "-m", "services.simulator", *args, "--count", "2", "--retries", "0"]
        return subprocess.run(command, cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=60)

    right = device_key(api, "Head office")
    done = simulate(right)
    assert done.returncode == 0 and "rejected" not in done.stdout, done.stdout + done.stderr
    assert "sent 2 readings" in done.stdout
    wrong = device_key(api, "Elsewhere")
    refused = simulate(wrong)
    assert "HTTP 403" in refused.stderr and "Elsewhere" in refused.stderr
