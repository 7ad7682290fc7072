"""Validation of readings: the one-pass check of common readings accepts exactly what the full check
accepts, with the same result, so a device gets the same answer whichever path its reading takes."""

from __future__ import annotations

import math

import pytest

from app.core.domain.readings import InvalidInput, _parse_checked, parse_plain_reading

BASE = {"sensor_id": "s1", "enseigne": "Site", "salle": "Room", "timestamp": 1_760_000_000}
CASES = [
    {**BASE, "values": {"co2": 600, "Temperature": 21.5, "RH": 40}},
    {**BASE, "timestamp": "2026-11-27T10:00:00", "values": {"PM2.5": 8}},
    {**BASE, "timestamp": " 2026-11-27T10:00:00+01:00 ", "values": {"noise level": 41.5, "pm10": 0}},
    {**BASE, "timestamp": 1e11, "values": {"co2": 1}},
    {**BASE, "timestamp": 1e11 + 1, "values": {"co2": 1}},
    {**BASE, "timestamp": -1e10, "values": {"co2": 1}},
    {**BASE, "timestamp": True, "values": {"co2": 1}},
    {**BASE, "timestamp": "yesterday", "values": {"co2": 1}},
    {**BASE, "timestamp": math.nan, "values": {"co2": 1}},
    {**BASE, "timestamp": None, "enseigne": None, "values": {"co2": 1}},
    {**BASE, "values": {"co2": 40_001}},
    {**BASE, "values": {"co2": -0.1}},
    {**BASE, "values": {"humidity": 100.0, "custom": 1e300}},
    {**BASE, "values": {"custom": math.inf}},
    {**BASE, "values": {"co2": math.nan}},
    {**BASE, "values": {"co2": True}},
    {**BASE, "values": {"co2": "600"}},
    {**BASE, "values": {"co2": 600, "CO2": 610}},
    {**BASE, "values": {"!!": 1}},
    {**BASE, "values": {}},
    {**BASE, "values": [600]},
    {**BASE, "values": {"tvoc": 100}, "units": {"tvoc": "ppb"}},
    {**BASE, "values": {"co2": 600}, "units": {}},
    {**BASE, "values": {"co2": 600}, "extra": 1},
    {**BASE, "sensor_id": "  padded  ", "values": {"co2": 600}},
    {**BASE, "sensor_id": "", "values": {"co2": 600}},
    {**BASE, "sensor_id": 12, "values": {"co2": 600}},
    {**BASE, "salle": "x" * 129, "values": {"co2": 600}},
    {**BASE, "salle": "bad\nname", "values": {"co2": 600}},
    [BASE],
]
LEGACY = [
    {"capteur_id": "c1", "enseigne": "Site", "salle": "Room", "co2": 600, "temp": 20},
    {"sensor_id": "c1", "timestamp": "2026-11-27T10:00:00Z", "co2": 600},
    {"capteur_id": "c1", "co2": "high"},
    {"capteur_id": "c1"},
]


def full_check(obj, legacy):
    try:
        return _parse_checked(obj, legacy, "", 4.5)
    except InvalidInput as exc:
        return exc


@pytest.mark.parametrize(
    ("obj", "legacy"), [(case, False) for case in CASES] + [(case, True) for case in LEGACY]
)
def test_one_pass_check_accepts_only_what_the_full_check_accepts_with_the_same_result(obj, legacy):
    fast = parse_plain_reading(obj, legacy)  # None: not a common reading, the full check decides alone
    if fast is not None:
        assert fast == full_check(obj, legacy)


def test_common_readings_take_the_one_pass_check():
    accepted = [case for case in CASES if parse_plain_reading(case) is not None]
    assert len(accepted) >= 6
