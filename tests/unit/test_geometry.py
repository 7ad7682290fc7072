"""Room geometry of the digital twin: what an operator may enter, and where rooms without one are drawn."""

from __future__ import annotations

import pytest

from app.core.domain.geometry import check_geometry, site_layout, storey_height
from app.core.domain.readings import InvalidInput
from services.room_models import check_glb
from tests.support.data import glb

SQUARE = [[0, 0], [4, 0], [4, 3], [0, 3]]


def fields(data) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        check_geometry(data)
    return [e.field for e in caught.value.errors]


def test_a_valid_geometry_is_normalised():
    g = check_geometry(
        {"footprint": [*SQUARE, [0, 0]], "height": 2.8, "floor": 1.0, "sensors": {"s1": [1, 1, 1.5]}}
    )
    assert g.footprint == ((0, 0), (4, 0), (4, 3), (0, 3))  # the repeated closing point is dropped
    assert (g.height, g.floor, g.sensors) == (2.8, 1, {"s1": (1.0, 1.0, 1.5)})
    assert check_geometry({"footprint": SQUARE}).as_dict()["height"] == 3.0  # height and floor have defaults


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"footprint": [[0, 0], [1, 1]]}, "footprint"),  # fewer than 3 points
        ({"footprint": [[0, 0], [1, 1], [2, 2]]}, "footprint"),  # on one line: no area
        ({"footprint": [[0, 0], [4, 0], [4, 4], [0, 4], [2, -2]]}, "footprint[0]"),  # crosses itself
        ({"footprint": [[0, 0], [4, "x"], [4, 3]]}, "footprint[1]"),
        ({"footprint": [[0, 0], [1e6, 0], [4, 3]]}, "footprint[1]"),  # not a sane size
        ({"footprint": SQUARE, "height": 0}, "height"),
        ({"footprint": SQUARE, "height": 500}, "height"),
        ({"footprint": SQUARE, "floor": 1.5}, "floor"),
        ({"footprint": SQUARE, "floor": True}, "floor"),
        ({"footprint": SQUARE, "sensors": {"s1": [1, 2]}}, "sensors.s1"),
        ({"footprint": SQUARE, "colour": "red"}, "colour"),
    ],
)
def test_an_invalid_geometry_names_its_field(data, field):
    assert field in fields(data)


def test_every_bad_field_is_named_at_once():
    assert fields({"footprint": "square", "height": -1, "floor": "ground"}) == [
        "footprint",
        "height",
        "floor",
    ]


def test_rooms_without_geometry_get_a_grid_of_boxes_beside_the_drawn_ones():
    drawn = {"footprint": [[0, 0], [10, 0], [10, 8], [0, 8]], "height": 4, "floor": 0}
    upstairs = {"footprint": SQUARE, "floor": 2}
    layout = site_layout(
        [(1, drawn), (2, None), (3, None), (4, None), (5, None), (6, upstairs), (7, {"bad": 1})]
    )
    assert not layout[1].default and layout[1].bounds == (0, 0, 10, 8)
    boxes = {room: layout[room] for room in (2, 3, 4, 5, 7)}  # an invalid stored value counts as none
    assert all(g.default and g.floor == 0 and g.height == 3.0 for g in boxes.values())
    assert [g.bounds[:2] for g in boxes.values()] == [
        (11, 0),
        (18, 0),
        (25, 0),
        (11, 6),
        (18, 6),
    ]  # 3 columns
    assert layout[6].floor == 2
    assert storey_height(list(layout.values())) == 4.5  # the tallest room and a slab


def test_an_unplaced_sensor_is_drawn_near_the_room_centre():
    g = check_geometry({"footprint": SQUARE, "sensors": {"s1": [1, 1, 2]}})
    assert g.sensor_position("s1") == (1, 1, 2)
    assert g.sensor_position("s2", 1) == (2.8, 1.5, 1.5)


def test_only_binary_gltf_2_within_the_limit_is_accepted():
    check_glb(glb(), 1000)
    for data, problem in [
        (b"<html>" * 10, "does not start with 'glTF'"),
        (glb(version=1), "version 1"),
        (glb()[:-4], "truncated"),
        (glb(extra=b" " * 2000), "limit of 1000 bytes"),
    ]:
        with pytest.raises(InvalidInput, match=problem) as caught:
            check_glb(data, 1000)
        assert caught.value.errors[0].field == "model"
