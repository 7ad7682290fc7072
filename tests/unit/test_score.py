"""The IAQ score's arithmetic: sub-scores at and around each reference boundary, the room score, overrides."""

from __future__ import annotations

import math
from statistics import mean

import pytest

from app.core.domain.readings import InvalidInput
from app.core.domain.score import DEFAULT_THRESHOLDS, Thresholds, level_of_score, room_score, split_stale


def sub(metric: str, value: float, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[float, str]:
    score = thresholds.sub_score(metric, value)
    assert score is not None
    return score, level_of_score(score)


@pytest.mark.parametrize(
    ("co2_ppm", "score", "level"),
    [
        (380, 100.0, "excellent"),  # below the outdoor level: nothing to improve
        (420, 100.0, "excellent"),
        (970, 80.0, "excellent"),  # 550 above outdoor: the EN 16798-1 category I/II boundary
        (971, 79.9, "good"),
        (1220, 60.0, "good"),  # category II/III
        (1221, 59.9, "moderate"),
        (1770, 40.0, "moderate"),  # category III/IV
        (2000, 20.0, "poor"),  # UBA 2008: above 2000 ppm unacceptable
        (2001, 19.9, "bad"),
        (5000, 0.0, "bad"),  # 8-hour occupational limit
        (9000, 0.0, "bad"),
    ],
)
def test_co2_sub_score_at_and_around_the_category_boundaries(co2_ppm, score, level):
    assert sub("co2", co2_ppm) == (score, level)


def test_co2_boundaries_follow_the_outdoor_level():
    thresholds = DEFAULT_THRESHOLDS.merged({"outdoor_co2_ppm": 450})
    assert sub("co2", 1000, thresholds) == (80.0, "excellent")
    assert sub("co2", 970, thresholds)[0] > 80


@pytest.mark.parametrize(
    ("pm25", "score", "level"),
    [
        (0, 100.0, "excellent"),
        (5, 80.0, "excellent"),  # WHO 2021 annual guideline
        (5.1, 79.8, "good"),
        (9.0, 72.0, "good"),  # EPA 2024 "good" ends inside our "good"
        (15, 60.0, "good"),  # WHO 2021 24-hour guideline
        (15.1, 59.9, "moderate"),
        (35.4, 40.0, "moderate"),  # EPA moderate / unhealthy for sensitive groups
        (55.4, 20.0, "poor"),  # EPA unhealthy for sensitive groups / unhealthy
        (55.5, 19.9, "bad"),
        (225.4, 0.0, "bad"),  # EPA very unhealthy / hazardous
    ],
)
def test_pm25_sub_score_at_the_who_and_epa_breakpoints(pm25, score, level):
    assert sub("pm25", pm25) == (score, level)


@pytest.mark.parametrize(
    ("tvoc_ugm3", "score", "level"),
    [(300, 80.0, "excellent"), (301, 79.9, "good"), (1000, 60.0, "good"), (3000, 40.0, "moderate"),
     (10_000, 20.0, "poor"), (25_000, 0.0, "bad")],
)  # fmt: skip
def test_tvoc_sub_score_follows_the_uba_levels(tvoc_ugm3, score, level):
    assert sub("tvoc", tvoc_ugm3) == (score, level)


@pytest.mark.parametrize(
    ("celsius", "score"),
    [(12, 0.0), (16, 20.0), (18, 40.0), (19, 60.0), (19.5, 70.0), (20, 80.0), (21, 100.0), (23, 100.0),
     (25.5, 100.0), (26, 80.0), (27, 60.0), (28, 40.0), (30, 20.0), (35, 0.0), (40, 0.0)],
)  # fmt: skip
def test_temperature_is_scored_on_both_sides_of_the_comfort_range(celsius, score):
    assert sub("temperature", celsius)[0] == score


@pytest.mark.parametrize(
    ("rh", "score"),
    [(0, 0.0), (10, 20.0), (15, 40.0), (20, 60.0), (25, 80.0), (30, 100.0), (45, 100.0), (50, 100.0),
     (60, 80.0), (70, 60.0), (80, 40.0), (90, 20.0), (100, 0.0)],
)  # fmt: skip
def test_humidity_is_scored_on_both_sides_of_the_comfort_range(rh, score):
    assert sub("humidity", rh)[0] == score


@pytest.mark.parametrize(
    ("score", "level"),
    [(100, "excellent"), (80, "excellent"), (79.9, "good"), (60, "good"), (59.9, "moderate"),
     (40, "moderate"), (39.9, "poor"), (20, "poor"), (19.9, "bad"), (0, "bad")],
)  # fmt: skip
def test_level_cut_points(score, level):
    assert level_of_score(score) == level


def test_the_worst_pollutant_drives_the_room_score_not_the_average():
    values = {"co2": 600, "pm25": 60, "tvoc": 100, "temperature": 22, "humidity": 45}
    result = room_score(values)
    assert result is not None
    assert result.driver_metric == "pm25"
    assert result.score == result.sub_scores["pm25"].score == min(s.score for s in result.sub_scores.values())
    assert result.level == "bad"
    assert mean(s.score for s in result.sub_scores.values()) > 75  # an average would call this room good
    assert result.sub_scores["co2"] == (93.4, "excellent", 600)


def test_metrics_without_a_value_or_a_scale_do_not_count():
    only_co2 = room_score({"co2": 970, "light": 300})
    assert only_co2 is not None and set(only_co2.sub_scores) == {"co2"}
    assert only_co2.score == 80.0
    assert room_score({}) is None  # no values, no score: never a made-up 100
    assert room_score({"light": 300, "noise": 40}) is None
    assert room_score({"co2": math.nan}) is None


def test_ties_go_to_the_pollutant():
    result = room_score({"humidity": 60, "co2": 970})  # both exactly 80
    assert result is not None and result.driver_metric == "co2"


def test_site_then_room_overrides_apply_in_order():
    site = DEFAULT_THRESHOLDS.merged({"outdoor_co2_ppm": 450, "pm25": {"high": [0, 10, 20, 40, 60, 250]}})
    room = site.merged({"co2": {"high": [0, 400, 800, 1350, 1580, 4580]}})
    assert sub("pm25", 10, site) == (80.0, "excellent")
    assert sub("co2", 850, room) == (80.0, "excellent")  # the room's 400 above the site's outdoor 450
    assert sub("pm25", 10, room) == (80.0, "excellent")  # inherited from the site
    assert sub("co2", 850, site)[0] > 80
    assert room.merged(None) is room and room.merged({}).as_dict() == room.as_dict()
    assert DEFAULT_THRESHOLDS.as_dict()["co2"] == {"high": [0, 550, 800, 1350, 1580, 4580]}


@pytest.mark.parametrize(
    ("override", "field", "problem"),
    [
        ({"co3": {"high": [0, 1, 2, 3, 4, 5]}}, "co3", "is not a scored metric"),
        ({"co2": {"high": [0, 550, 500, 1350, 1580, 4580]}}, "co2.high[2]", "greater than co2.high[1] (550)"),
        ({"co2": {"high": [0, 550, 800]}}, "co2.high", "list of 6 numbers"),
        ({"co2": {"high": [0, 550, "800", 1350, 1580, 4580]}}, "co2.high[2]", "finite number"),
        ({"co2": [0, 550, 800, 1350, 1580, 4580]}, "co2", "must be an object"),
        ({"co2": {"top": [0, 550, 800, 1350, 1580, 4580]}}, "co2.top", "not a known field"),
        ({"pm25": {"low": [0, -1, -2, -3, -4, -5]}}, "pm25.low", "high side only"),
        ({"temperature": {"low": [21, 22, 19, 18, 16, 12]}}, "temperature.low[1]", "less than"),
        ({"temperature": {"low": [27, 20, 19, 18, 16, 12]}}, "temperature.low[0]", "not be above"),
        ({"outdoor_co2_ppm": "420"}, "outdoor_co2_ppm", "between 0 and 1000"),
        ({"outdoor_co2_ppm": True}, "outdoor_co2_ppm", "between 0 and 1000"),
        (["co2"], "score_thresholds", "must be an object"),
    ],
)
def test_invalid_overrides_are_refused_naming_the_field(override, field, problem):
    with pytest.raises(InvalidInput) as refused:
        DEFAULT_THRESHOLDS.merged(override)
    assert refused.value.errors[0].field == field
    assert problem in refused.value.errors[0].problem


def test_every_bad_field_of_an_override_is_named():
    with pytest.raises(InvalidInput) as refused:
        DEFAULT_THRESHOLDS.merged({"co3": {}, "outdoor_co2_ppm": -1, "tvoc": {"high": [1]}})
    assert [e.field for e in refused.value.errors] == ["co3", "outdoor_co2_ppm", "tvoc.high"]


def test_stale_values_are_split_off_with_their_time():
    latest = {"co2": (800.0, 10_000_000), "tvoc": (200.0, 10_000_000 - 3_600_001)}
    fresh, stale = split_stale(latest, now_ms=10_000_000, stale_after_ms=3_600_000)
    assert fresh == {"co2": 800.0}
    assert stale == {"tvoc": 10_000_000 - 3_600_001}
