"""The compiled reading of the common ingestion body (app/core/domain/wire.py) against the ordinary one
(`readings.parse_reading` over the decoded JSON): on every body, either the compiled one declines (and the
ordinary one decides) or both give the very same readings. One set of rules, whichever way a body goes."""

from __future__ import annotations

import json

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.api.common import parse_json
from app.core.domain.metrics import ALL_KNOWN
from app.core.domain.readings import InvalidInput, parse_reading
from app.core.domain.wire import decode_readings

ids = st.sampled_from(["s1", " s1 ", "Bureau 2", "", "   ", "a\x00b", "x" * 128, "x" * 129, "é"]) | st.text(
    max_size=6
)
edges = st.sampled_from(
    sorted({v for m in ALL_KNOWN.values() for v in (m.low, m.high, m.low - 0.5, m.high + 0.5)})
)
numbers = (
    edges
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -0.0, 400, 40_000, 40_000.0001, 100, 100.5, -50, -50.01, 1e11, 99_999_999_999.9])
)
metric_keys = st.sampled_from(
    [
        "co2",
        "CO2",
        "pm25",
        "pm2.5",
        "tvoc",
        "temperature",
        "humidity",
        "pm10",
        "noise",
        "pressure",
        "foo",
        "co2 ",
    ]
)
metric_values = numbers | st.booleans() | st.none() | st.text(max_size=4)
times = (
    st.integers(-5, 2 * 10**11)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["2026-02-24T14:05:00", "2026-02-24T14:05:00+01:00", " 2026-02-24 ", "yesterday", ""])
    | st.none()
)


good_ids = st.sampled_from(["s1", "Bureau 2", "é", "x" * 128, "capteur-7"])
good_values = st.dictionaries(
    st.sampled_from(["co2", "pm25", "tvoc", "temperature", "humidity", "pm10", "noise", "pressure"]),
    st.integers(0, 100) | st.floats(0, 100),
    min_size=1,
    max_size=5,
)
good_times = st.integers(946_684_800, 2_000_000_000) | st.sampled_from(
    ["2026-02-24T14:05:00", "2026-02-24T14:05:00Z"]
)


@st.composite
def readings(draw):
    """Mostly a reading of the common shape, often with one field made odd (a wrong type, an alias, a value
    out of range, a field too many or missing): the bodies where both ways must agree field by field."""
    body = {"sensor_id": draw(good_ids), "values": draw(good_values)}
    for key, strategy in (("enseigne", good_ids), ("salle", good_ids), ("timestamp", good_times)):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    odd = draw(st.sampled_from(["none", "none", "sensor_id", "enseigne", "salle", "timestamp", "values",
                                "metric", "edge", "edge", "units", "capteur_id", "missing"]))  # fmt: skip
    if odd in ("sensor_id", "enseigne", "salle"):
        body[odd] = draw(ids | st.integers() | st.none())
    elif odd == "timestamp":
        body[odd] = draw(times)
    elif odd == "values":
        body[odd] = draw(st.dictionaries(metric_keys, metric_values, max_size=5) | st.none() | st.integers())
    elif odd == "metric":
        body["values"][draw(metric_keys)] = draw(metric_values)
    elif odd == "edge":  # a known metric at or just past a bound of its physical range
        metric = ALL_KNOWN[draw(st.sampled_from(sorted(ALL_KNOWN)))]
        body["values"][metric.name] = draw(
            st.sampled_from([metric.low, metric.high, metric.low - 0.5, metric.high + 0.5])
        )
    elif odd == "units":
        body["units"] = draw(st.sampled_from([{}, None, {"co2": "ppm"}, "ppm", {"co2": 1}]))
    elif odd == "capteur_id":
        body["capteur_id"] = "c1"
    elif odd == "missing":
        del body[draw(st.sampled_from(["sensor_id", "values"]))]
    return body


bodies = readings() | st.lists(readings(), max_size=4) | st.sampled_from([1, "x", None, [1], [[]]])


def ordinary(body):
    """What `IngestionService.parse` does with a decoded body: every reading checked, all or nothing."""
    items = body if isinstance(body, list) else [body]
    try:
        drafts = [
            parse_reading(item, prefix=f"[{i}]." if isinstance(body, list) else "")
            for i, item in enumerate(items)
        ]
    except InvalidInput:
        return None
    return (drafts, isinstance(body, list)) if drafts else None


@given(bodies)
@settings(max_examples=600, deadline=None)
@example({"sensor_id": "s1", "timestamp": 1_700_000_000, "values": {"co2": 612, "temperature": 21.5}})
@example([{"sensor_id": "s1", "enseigne": "HQ", "salle": "Room", "values": {"humidity": 45}}] * 2)
def test_the_compiled_reading_agrees_with_the_ordinary_one(body):
    raw = json.dumps(body).encode()  # json: integers past 64 bits too
    fast = decode_readings(raw)
    if fast is not None:
        assert fast == ordinary(parse_json(raw, max_depth=None))  # as app/api/ingest.py reads a body


def test_the_common_bodies_take_the_compiled_way():
    """What most devices send is read by the compiled decoder (else the ingestion's speed is lost quietly)."""
    one = {"sensor_id": "s1", "enseigne": "HQ", "salle": "Room 1", "timestamp": 1_700_000_000.5,
           "values": {"co2": 612, "pm25": 8.5, "tvoc": 120, "temperature": 21.7, "humidity": 44}}  # fmt: skip
    iso = {**one, "timestamp": "2026-02-24T14:05:00+01:00", "units": {}}
    for body in (
        one,
        [one, iso],
        {**one, "values": {"co2": 700}},
        {k: v for k, v in one.items() if k != "timestamp"},
    ):
        decoded = decode_readings(orjson.dumps(body))
        assert decoded is not None and decoded == ordinary(body)
    # and what it leaves to the ordinary way, which accepts it or names the field
    for body in (
        {**one, "values": {"CO2": 612}},
        {**one, "values": {"co2": None}},
        [],
        {**one, "units": {"co2": "ppm"}},
    ):
        assert decode_readings(orjson.dumps(body)) is None
    assert decode_readings(b'{"sensor_id": "s1", "values": {"co2": 612}') is None  # broken JSON
