"""The digital twin's configuration over HTTP: room geometry and uploaded .glb models, on a real server."""

from __future__ import annotations

import httpx
import pytest

from tests.support.data import glb
from tests.support.servers import platform

GEOMETRY = {
    "footprint": [[0, 0], [6, 0], [6, 4], [0, 4]],
    "height": 2.7,
    "floor": 1,
    "sensors": {"t1": [1, 1, 1.2]},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with (
        platform(tmp_path_factory.mktemp("twin") / "data", IAQ_MAX_GLB_BYTES="4096") as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        reading = {"sensor_id": "t1", "enseigne": "Twin", "salle": "Lab", "values": {"co2": 600}}
        assert client.post("/api/ingest", json=reading).status_code == 200
        yield client


@pytest.fixture(scope="module")
def room_id(api) -> int:
    return next(
        r["id"] for s in api.get("/api/config/sites").json() for r in s["rooms"] if r["name"] == "Lab"
    )


def test_geometry_is_stored_read_back_and_cleared(api, room_id):
    url = f"/api/config/rooms/{room_id}/geometry"
    assert api.get(url).json() == {"room_id": room_id, "geometry": None}  # default layout
    assert api.put(url, json=GEOMETRY).status_code == 200
    assert api.get(url).json()["geometry"] == {**GEOMETRY, "sensors": {"t1": [1.0, 1.0, 1.2]}}
    assert api.get(f"/api/config/rooms/{room_id}").json()["geometry"]["floor"] == 1
    cleared = api.put(url, content=b"null", headers={"Content-Type": "application/json"})
    assert cleared.json()["geometry"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GEOMETRY, "footprint": [[0, 0], [1, 0]]}, "footprint"),
        ({**GEOMETRY, "height": -2}, "height"),
        ({**GEOMETRY, "floor": "two"}, "floor"),
        ({**GEOMETRY, "sensors": {"nobody": [1, 1, 1]}}, "sensors.nobody"),  # not a sensor of this room
        ([1, 2, 3], "geometry"),
    ],
)
def test_a_bad_geometry_is_refused_naming_the_field(api, room_id, body, field):
    answer = api.put(f"/api/config/rooms/{room_id}/geometry", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == field


def test_geometry_of_an_unknown_room_is_404(api):
    assert api.get("/api/config/rooms/9999/geometry").status_code == 404
    assert api.put("/api/config/rooms/9999/geometry", json=GEOMETRY).status_code == 404


def test_a_glb_model_is_uploaded_served_and_deleted(api, room_id, tmp_path_factory):
    url = f"/api/config/rooms/{room_id}/model"
    data = glb()
    answer = api.put(url, content=data, headers={"Content-Type": "model/gltf-binary"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"].startswith(url + "?v=")
    served = api.get(answer.json()["url"])
    assert (served.status_code, served.content) == (200, data)
    assert served.headers["content-type"] == "model/gltf-binary"
    assert api.delete(url).status_code == 200
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"<html></html>" * 4, "model/gltf-binary", 422, "model: is not a binary glTF"),
        (glb(extra=b" " * 5000), "model/gltf-binary", 413, "limit of 4096 bytes"),
        (glb(), "text/plain", 415, "Content-Type must be model/gltf-binary"),
    ],
)
def test_a_bad_model_upload_is_refused(api, room_id, content, content_type, status, message):
    answer = api.put(
        f"/api/config/rooms/{room_id}/model", content=content, headers={"Content-Type": content_type}
    )
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_model_paths_cannot_leave_the_models_folder(api):
    for path in ("/api/config/rooms/..%2F..%2Fiaqverse.db/model", "/api/config/rooms/-1/model"):
        assert api.get(path).status_code in (404, 422)
    assert (
        api.put(
            "/api/config/rooms/9999/model", content=glb(), headers={"Content-Type": "model/gltf-binary"}
        ).status_code
        == 404
    )


def test_deleting_a_room_deletes_its_model(api):
    reading = {"sensor_id": "t9", "enseigne": "Twin", "salle": "Gone", "values": {"co2": 600}}
    assert api.post("/api/ingest", json=reading).status_code == 200
    rid = next(
        r["id"] for s in api.get("/api/config/sites").json() for r in s["rooms"] if r["name"] == "Gone"
    )
    headers = {"Content-Type": "model/gltf-binary"}
    assert api.put(f"/api/config/rooms/{rid}/model", content=glb(), headers=headers).status_code == 200
    assert api.delete(f"/api/config/rooms/{rid}", params={"cascade": "true"}).status_code == 200
    assert api.get(f"/api/config/rooms/{rid}/model").status_code == 404


def test_the_configuration_export_and_import_carry_geometry(api, room_id):
    assert api.put(f"/api/config/rooms/{room_id}/geometry", json=GEOMETRY).status_code == 200
    exported = api.get("/api/config/export").json()
    room = next(r for s in exported["sites"] for r in s["rooms"] if r["name"] == "Lab")
    assert room["geometry"]["height"] == 2.7
    bad = {"sites": [{"name": "Twin", "rooms": [{"name": "Lab", "geometry": {**GEOMETRY, "height": 0}}]}]}
    answer = api.post("/api/config/import", json=bad)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "sites[0].rooms[0].geometry.height"
