"""The OpenAPI document says what each operation answers, and says it truly: against a real platform with the
demo's rooms, the answers of the API's operations (reads, and the writes a facility manager makes) are checked
against the schemas `/openapi.json` gives for them: every field the document requires is there with its type,
and no field is sent that the document does not name."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.servers import platform

PRODUCT_PATHS = ("/api/", "/health", "/config", "/iaq")


class Mismatch(AssertionError):
    pass


def check(value: Any, schema: dict, doc: dict, where: str = "$") -> None:
    """`value` against an OpenAPI 3.1 schema (the subset pydantic writes): types, required and unknown
    properties, items, anyOf, $ref."""
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf")
        problems = []
        for option in options:
            try:
                check(value, option, doc, where)
                return
            except Mismatch as exc:
                problems.append(str(exc))
        raise Mismatch(f"{where}: matches none of its forms ({'; '.join(problems)})")
    kind = schema.get("type")
    types = {
        "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
        "integer": int, "number": (int, float),
    }  # fmt: skip
    if kind is not None:
        if isinstance(value, bool) and kind in ("integer", "number"):
            raise Mismatch(f"{where}: {value!r} is not a {kind}")
        if not isinstance(value, types[kind]):
            raise Mismatch(f"{where}: {value!r} is not a {kind}")
    if isinstance(value, dict) and ("properties" in schema or kind == "object"):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise Mismatch(f"{where}: the document requires {name!r}, the answer lacks it")
        extra = schema.get("additionalProperties", not properties)
        for name, item in value.items():
            if name in properties:
                check(item, properties[name], doc, f"{where}.{name}")
            elif extra is False or (extra is True and properties) or (not extra and properties):
                raise Mismatch(f"{where}: the answer has {name!r}, which the document does not name")
            elif isinstance(extra, dict):
                check(item, extra, doc, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], doc, f"{where}[{i}]")


def documented(doc: dict, method: str, path: str, status: int) -> dict:
    operation = doc["paths"][path][method]
    answer = operation["responses"][str(status)]
    return answer["content"]["application/json"]["schema"]


def says_its_answer(operation: dict) -> bool:
    return any(code.startswith("2") and a.get("content") for code, a in operation["responses"].items())


def test_the_checker_finds_a_missing_a_wrong_and_an_unnamed_field() -> None:
    optional_text = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    shape = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": optional_text},
        "required": ["a"],
    }
    doc = {"components": {"schemas": {"S": shape}}}
    schema = {"$ref": "#/components/schemas/S"}
    check({"a": 1, "b": None}, schema, doc)
    for bad in ({"b": "x"}, {"a": "1"}, {"a": 1, "c": 2}, {"a": True}):
        with pytest.raises(Mismatch):
            check(bad, schema, doc)


@pytest.mark.slow
def test_every_operation_says_what_it_answers_and_the_answers_match(tmp_path) -> None:
    with (
        platform(
            tmp_path / "data",
            IAQ_DEMO="1",
            IAQ_DEMO_INTERVAL="2",
            IAQ_DEMO_BACKFILL_HOURS="1",
            IAQ_ALERTS="1",
        ) as server,
        httpx.Client(base_url=server.url, timeout=20) as api,
    ):
        doc = api.get("/openapi.json").json()
        operations = [
            (method, path)
            for path, item in doc["paths"].items()
            if path.startswith(PRODUCT_PATHS)
            for method in item
            if method in ("get", "post", "put", "patch", "delete")
        ]
        said = [(m, p) for m, p in operations if says_its_answer(doc["paths"][p][m])]
        assert len(said) / len(operations) >= 0.9, sorted(set(operations) - set(said))

        deadline = time.monotonic() + 20
        while not api.get("/api/config/sites").json():
            assert time.monotonic() < deadline, "the demo did not register its sites"
            time.sleep(0.2)
        site = api.get("/api/config/sites").json()[0]
        room = site["rooms"][0]
        where = {"enseigne": site["name"], "salle": room["name"]}

        problems: list[str] = []

        def answer(method: str, path: str, template: str | None = None, status: int = 200, **kwargs):
            response = api.request(method, path, **kwargs)
            assert response.status_code == status, (path, response.text)
            try:
                check(response.json(), documented(doc, method.lower(), template or path, status), doc, path)
            except Mismatch as exc:
                problems.append(f"{method} {exc}")
            return response.json()

        # an alert and its life: a rule that fires at once, a reading above it
        fast = {"metric": "co2", "direction": "above", "trigger": 1500, "reset": 1400, "duration_s": 0,
                "cooldown_s": 0, "severity": "critical"}  # fmt: skip
        answer("POST", "/api/alert-rules", status=201, json={"name": "Vite", **fast})
        start = int(time.time()) - 7 * 60
        rise = [
            {"sensor_id": "labo-1", "enseigne": "Labo", "salle": "Paillasse", "timestamp": start + 60 * i,
             "values": {"co2": 2500}}
            for i in range(7)
        ]  # fmt: skip
        ingest = api.post("/api/ingest", json=rise)
        assert ingest.status_code == 200, ingest.text
        deadline = time.monotonic() + 15
        while not api.get("/api/alerts").json():
            assert time.monotonic() < deadline, "no alert was raised"
            time.sleep(0.2)
        alert = answer("GET", "/api/alerts")[0]
        path = f"/api/alerts/{alert['id']}"
        answer("GET", path, "/api/alerts/{alert_id}")
        answer(
            "POST", f"{path}/acknowledge", "/api/alerts/{alert_id}/acknowledge", json={"comment": "on y va"}
        )
        answer("POST", f"{path}/snooze", "/api/alerts/{alert_id}/snooze", json={"minutes": 60})
        answer("POST", f"{path}/resolve", "/api/alerts/{alert_id}/resolve", json={})

        executed = answer("POST", "/api/execute-action", json={**where, "module_type": "ventilation",
                          "action_type": "turn_on"})  # fmt: skip
        time.sleep(1.0)  # the simulated device answers
        for path, template, params in [
            ("/api/config/sites", None, None),
            (f"/api/config/sites/{site['id']}", "/api/config/sites/{site_id}", None),
            (f"/api/config/rooms/{room['id']}", "/api/config/rooms/{room_id}", None),
            (f"/api/config/rooms/{room['id']}/geometry", "/api/config/rooms/{room_id}/geometry", None),
            ("/api/config/sensors", None, None),
            ("/api/config/export", None, None),
            (f"/api/config/sites/{site['id']}/score-thresholds",
             "/api/config/sites/{site_id}/score-thresholds", None),
            (f"/api/config/rooms/{room['id']}/score-thresholds",
             "/api/config/rooms/{room_id}/score-thresholds", None),
            ("/api/predict/score", None, where),
            ("/api/predict/score/history", None, where),
            ("/api/alerts", None, None),
            ("/api/alert-rules", None, None),
            ("/health", None, None),
            ("/health/ready", None, None),
            ("/api/room-modules", None, where),
            ("/api/modules/states", None, None),
            ("/api/actions", None, None),
            ("/api/automation", None, where),
            ("/api/air-change-rates", None, None),
            ("/api/models/list", None, None),
            ("/api/models/training-history", None, None),
            ("/api/predict/forecast", None, where),
            ("/api/predict/preventive-actions", None, where),
            ("/api/auth/me", None, None),
            ("/api/auth/tokens", None, None),
            ("/api/auth/users", None, None),
            ("/api/auth/all-tokens", None, None),
            ("/api/auth/audit", None, None),
            ("/api/reports/compliance", None, where),
        ]:  # fmt: skip
            answer("GET", path, template, params=params)
        module = executed["actions"][0]["module_id"]
        answer("GET", f"/api/modules/{module}/state-history", "/api/modules/{module_id}/state-history")
        rule = answer("GET", "/api/alert-rules").pop()
        answer("GET", f"/api/alert-rules/{rule['id']}", "/api/alert-rules/{rule_id}")

        made = answer("POST", "/api/config/sites", status=201, json={"name": "Annexe"})
        built = answer("POST", f"/api/config/sites/{made['id']}/rooms", "/api/config/sites/{site_id}/rooms",
                       status=201, json={"name": "Atelier"})  # fmt: skip
        answer(
            "PATCH",
            f"/api/config/rooms/{built['id']}",
            "/api/config/rooms/{room_id}",
            json={"kind": "office"},
        )
        answer(
            "PUT",
            "/api/config/sensors/s-annexe",
            "/api/config/sensors/{sensor_id}",
            json={"room_id": built["id"]},
        )
        answer("POST", "/api/config/import", json=api.get("/api/config/export").json())
        answer(
            "DELETE",
            f"/api/config/rooms/{built['id']}",
            "/api/config/rooms/{room_id}",
            params={"cascade": "true"},
        )
        answer("DELETE", f"/api/config/sites/{made['id']}", "/api/config/sites/{site_id}")
        key = answer("POST", "/api/auth/keys", status=201, json={"site": site["name"], "name": "capteur"})
        answer("GET", "/api/auth/keys")
        answer("DELETE", f"/api/auth/keys/{key['id']}", "/api/auth/keys/{key_id}")
        token = answer("POST", "/api/auth/tokens", status=201, json={"name": "script"})
        answer("DELETE", f"/api/auth/tokens/{token['id']}", "/api/auth/tokens/{token_id}")
        user = answer("POST", "/api/auth/users", status=201,
                      json={"name": "zoe", "role": "viewer", "password": "zoe-password-123"})  # fmt: skip
        answer(
            "PATCH", f"/api/auth/users/{user['id']}", "/api/auth/users/{user_id}", json={"role": "operator"}
        )
        answer("DELETE", f"/api/auth/users/{user['id']}", "/api/auth/users/{user_id}")
        new_rule = answer("POST", "/api/alert-rules", status=201, json={**{k: rule[k] for k in (
            "metric", "direction", "trigger", "reset", "severity")}, "name": "Essai"})  # fmt: skip
        answer(
            "PATCH",
            f"/api/alert-rules/{new_rule['id']}",
            "/api/alert-rules/{rule_id}",
            json={"enabled": False},
        )
        answer("DELETE", f"/api/alert-rules/{new_rule['id']}", "/api/alert-rules/{rule_id}")
        answer("PUT", "/api/automation", params=where, json={"mode": "recommend"})

        # a model version, registered and made active
        version = {"model_name": "co2_predictor/essai", "model_version": "1", "model_type": "persistence"}
        model = answer("POST", "/api/models/register", status=201, json=version)
        answer("GET", f"/api/models/{model['id']}", "/api/models/{model_id}")
        answer("POST", f"/api/models/{model['id']}/activate", "/api/models/{model_id}/activate")
        answer("GET", "/api/models/list")
        assert not problems, "answers the document does not describe:\n" + "\n".join(problems)
