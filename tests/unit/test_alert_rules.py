"""The alert rules' state machine on constructed series: duration, hysteresis, cooldown, opening hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core.domain.alerts import (
    DEFAULT_RULES,
    Cadence,
    Rule,
    RuleState,
    check_rule,
    is_open,
    offline_since,
    replaced_rules,
    rules_for_room,
    step,
)
from app.core.domain.readings import InvalidInput

CO2 = Rule(1, "CO2 high", "co2", "above", trigger=1200, reset=1100, duration_s=300, cooldown_s=900)
MIN = 60_000


def run(rule: Rule, series: list[tuple[int, float]], *, open_at=lambda ts: True) -> list[tuple[str, int]]:
    state = RuleState()
    out = []
    for ts, value in series:
        change = step(rule, state, ts, value, open_now=open_at(ts))
        if change:
            out.append((change.kind, change.ts_ms))
    return out


def minutes(values: list[float], start_ms: int = 0) -> list[tuple[int, float]]:
    return [(start_ms + i * MIN, v) for i, v in enumerate(values)]


def test_an_alert_is_raised_only_after_the_duration_of_reading_time():
    # above from minute 2; 5 minutes later (minute 7) it has lasted the rule's duration
    series = minutes([900, 1000, 1300, 1300, 1300, 1300, 1300, 1300, 1300])
    assert run(CO2, series) == [("raised", 7 * MIN)]


def test_a_dip_below_the_trigger_restarts_the_duration():
    series = minutes([1300, 1300, 1300, 1300, 1150, 1300, 1300, 1300, 1300, 1300, 1300])
    assert run(CO2, series) == [("raised", 10 * MIN)]  # 5 minutes after minute 5


def test_readings_far_apart_count_their_time_not_their_number():
    # two readings ten minutes apart (back-filled history, a slow sensor): the duration has elapsed
    assert run(CO2, [(0, 1300), (10 * MIN, 1300)]) == [("raised", 10 * MIN)]


def test_it_resolves_below_the_reset_threshold_not_below_the_trigger():
    series = minutes([1300] * 6 + [1150, 1190, 1120, 1101, 1099, 1000])
    assert run(CO2, series) == [("raised", 5 * MIN), ("resolved", 10 * MIN)]


def test_a_signal_oscillating_around_the_trigger_raises_one_alert_not_many():
    rise = [1300] * 6
    oscillation = [1190 if i % 2 else 1210 for i in range(120)]  # two hours around 1200, never below 1100
    changes = run(CO2, minutes(rise + oscillation))
    assert changes == [("raised", 5 * MIN)]
    instant = Rule(2, "no duration", "co2", "above", trigger=1200, reset=1100)
    assert run(instant, minutes(oscillation)) == [("raised", 0)]


def test_the_cooldown_delays_the_next_alert_of_the_same_rule():
    series = minutes([1300] * 6 + [1000] + [1300] * 20)  # resolved at minute 6, above again from minute 7
    changes = run(CO2, series)
    # the new run lasts 5 minutes at minute 12, but the cooldown of 15 minutes ends at minute 21
    assert changes == [("raised", 5 * MIN), ("resolved", 6 * MIN), ("raised", 21 * MIN)]


def test_late_readings_are_ignored():
    state = RuleState()
    assert step(CO2, state, 10 * MIN, 1300) is None
    assert step(CO2, state, 5 * MIN, 1000) is None  # older than the last reading: changes nothing
    assert state.pending_since_ms == 10 * MIN


def test_a_below_rule_is_the_mirror_image():
    cold = Rule(3, "Too cold", "temperature", "below", trigger=18, reset=19, duration_s=600)
    series = minutes([20] + [17.5] * 11 + [18.5, 17.9, 18.9, 19.2])
    assert run(cold, series) == [("raised", 11 * MIN), ("resolved", 15 * MIN)]


def test_severity_and_specific_rules_replace_broader_ones():
    global_co2 = Rule(10, "global", "co2", "above", 1200, 1100, severity="warning")
    site_co2 = Rule(11, "site", "co2", "above", 1000, 900, severity="warning", site_id=1)
    room_co2 = Rule(12, "room", "co2", "above", 1500, 1400, severity="warning", room_id=7)
    critical = Rule(13, "critical", "co2", "above", 2000, 1800, severity="critical")
    disabled = Rule(14, "off", "pm25", "above", 35, 25, enabled=False)
    rules = [global_co2, site_co2, room_co2, critical, disabled]
    assert {r.id for r in rules_for_room(rules, room_id=7, site_id=1)} == {12, 13}
    assert {r.id for r in rules_for_room(rules, room_id=8, site_id=1)} == {11, 13}
    assert {r.id for r in rules_for_room(rules, room_id=9, site_id=2)} == {10, 13}
    assert [r.id for r in replaced_rules(room_co2, rules, {7: 1})] == [10, 11]
    assert [r.id for r in replaced_rules(site_co2, rules, {7: 1})] == [10]
    assert replaced_rules(global_co2, rules, {7: 1}) == [] and replaced_rules(critical, rules, {7: 1}) == []


def test_a_second_rule_of_the_same_scope_fires_on_its_own():
    # a user's own global CO2 warning at 1500 ppm next to the built-in one at 1220 ppm: both are in force
    built_in = Rule(1, "CO₂ high", "co2", "above", 1220, 1120, severity="warning")
    own = Rule(20, "CO₂ meeting rooms", "co2", "above", 1500, 1400, duration_s=60, severity="warning")
    assert [r.id for r in rules_for_room([own, built_in], room_id=3, site_id=1)] == [1, 20]


PARIS = ZoneInfo("Europe/Paris")
HOURS = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_opening_hours_are_judged_in_the_sites_local_time_across_the_dst_change():
    # Sunday 29 March 2026, Paris goes from UTC+1 to UTC+2 at 02:00 local (01:00 UTC)
    saturday_open = datetime(2026, 3, 28, 7, 0, tzinfo=UTC)  # 08:00 in Paris (UTC+1)
    saturday_before = datetime(2026, 3, 28, 6, 59, tzinfo=UTC)  # 07:59 in Paris
    sunday_open = datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 in Paris (UTC+2)
    sunday_before = datetime(2026, 3, 29, 5, 59, tzinfo=UTC)  # 07:59 in Paris; 06:59 under the old offset
    assert is_open(HOURS, saturday_open, PARIS) and not is_open(HOURS, saturday_before, PARIS)
    assert is_open(HOURS, sunday_open, PARIS) and not is_open(HOURS, sunday_before, PARIS)
    assert is_open(HOURS, datetime(2026, 3, 29, 15, 59, tzinfo=UTC), PARIS)  # 17:59
    assert not is_open(HOURS, datetime(2026, 3, 29, 16, 0, tzinfo=UTC), PARIS)  # 18:00: closed
    assert not is_open({"mon": [["08:00", "18:00"]]}, sunday_open, PARIS)  # a day left out is closed
    assert is_open(None, sunday_before, PARIS)  # no hours: always open
    assert is_open({"sun": [["00:00", "24:00"]]}, datetime(2026, 3, 29, 21, 59, tzinfo=UTC), PARIS)


def test_a_rule_for_opening_hours_ignores_readings_while_closed_across_the_dst_change():
    rule = Rule(4, "CO2 open", "co2", "above", 1200, 1100, duration_s=600, only_open_hours=True)
    start = datetime(2026, 3, 29, 5, 40, tzinfo=UTC)  # 07:40 in Paris on the first day of summer time
    series = [(int((start + timedelta(minutes=i)).timestamp() * 1000), 1500.0) for i in range(40)]

    def open_at(ts_ms: int) -> bool:
        return is_open(HOURS, datetime.fromtimestamp(ts_ms / 1000, UTC), PARIS)

    (raised,) = run(rule, series, open_at=open_at)
    # pending starts at 08:00 Paris (06:00 UTC), not at 07:00 as the winter offset would give
    assert datetime.fromtimestamp(raised[1] / 1000, UTC) == datetime(2026, 3, 29, 6, 10, tzinfo=UTC)


def test_an_open_alert_still_resolves_after_closing_time():
    rule = Rule(5, "CO2 open", "co2", "above", 1200, 1100, only_open_hours=True)
    opened = [True, True, False, False]
    state = RuleState()
    kinds = [step(rule, state, i, v, open_now=opened[i]) for i, v in enumerate([1500, 1500, 1300, 900])]
    assert [k.kind if k else None for k in kinds] == ["raised", None, None, "resolved"]


def test_a_sensor_is_offline_after_its_usual_interval_times_the_factor():
    cadence = Cadence()
    for ts in (0, 60_000, 120_000, 180_000, 240_000):
        cadence.add(ts)
    expected = cadence.expected_ms(fallback_ms=300_000)
    assert expected == 60_000
    assert offline_since(cadence.last_ms, expected, 3, now_ms=420_000) is None  # 3 min silent: not yet
    assert offline_since(cadence.last_ms, expected, 3, now_ms=420_001) == 420_000
    assert Cadence(last_ms=0, gaps_ms=[5000]).expected_ms(300_000) == 300_000  # too few gaps: the setting


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"duration_s": -5}, "duration_s", "must not be negative"),
        ({"cooldown_s": -1}, "cooldown_s", "must not be negative"),
        ({"reset": 1300}, "reset", "must not be above the trigger (1220)"),
        ({"direction": "below", "reset": 1000}, "reset", "must not be below the trigger (1220)"),
        ({"metric": "noise"}, "metric", "must be one of co2"),
        ({"severity": "panic"}, "severity", "must be one of info, warning, critical"),
        ({"trigger": "high"}, "trigger", "must be a finite number"),
        ({"colour": "red"}, "colour", "is not a rule field"),
        ({"name": ""}, "name", "must be 1 to 128 characters"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(change, field, text):
    with pytest.raises(InvalidInput) as error:
        check_rule({**DEFAULT_RULES[0], **change})
    assert error.value.errors[0].field == field and text in error.value.errors[0].problem


def test_the_default_rules_are_valid_and_follow_the_scores_references():
    checked = [check_rule(rule) for rule in DEFAULT_RULES]
    metrics = {rule["metric"] for rule in checked}
    assert metrics == {"co2", "pm25", "tvoc", "temperature", "humidity", "offline"}
    co2 = {rule["severity"]: rule["trigger"] for rule in checked if rule["metric"] == "co2"}
    assert co2 == {"warning": 1220, "critical": 2000}  # 420 + 800 (EN 16798-1 cat. II), UBA 2000 ppm
