"""The compliance report: occupied time per EN 16798-1 CO2 category and above the WHO PM2.5 guideline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core.domain.alerts import is_open_ms
from app.core.domain.compliance import co2_category, compliance
from services.compliance import report_csv
from services.errors import InvalidInput, NotFound
from tests.support.runtimes import alerting_runtime as make_runtime

PARIS = ZoneInfo("Europe/Paris")
MORNING = {"mon": [["08:00", "12:00"]]}
MIN = 60_000


def minutes_from(local_start: datetime, values: list[float]) -> list[tuple[int, float]]:
    start_ms = int(local_start.timestamp() * 1000)
    return [(start_ms + i * MIN, v) for i, v in enumerate(values)]


def morning_series():
    """Monday 2 November 2026, Paris, one reading a minute from 07:00 to 13:00 (open 08:00-12:00)."""
    co2 = [2000] * 60 + [900] * 60 + [1100] * 60 + [1500] * 90 + [2000] * 30 + [2000] * 60
    pm25 = [50] * 60 + [20] * 60 + [10] * 180 + [50] * 60
    start = datetime(2026, 11, 2, 7, 0, tzinfo=PARIS)
    return (
        minutes_from(start, co2),
        minutes_from(start, pm25),
        int((start + timedelta(hours=6)).timestamp() * 1000),
    )


def test_shares_of_occupied_time_on_a_known_series():
    co2, pm25, end_ms = morning_series()
    result = compliance(
        co2, pm25, end_ms=end_ms, outdoor_ppm=420, is_open=lambda ts: is_open_ms(MORNING, ts, PARIS)
    )
    # 4 open hours: 1 h at 900 (480 above outdoor: I), 1 h at 1100 (II), 1.5 h at 1500 (III), 0.5 h at 2000
    assert result.co2_ms == {"I": 60 * MIN, "II": 60 * MIN, "III": 90 * MIN, "IV": 30 * MIN}
    assert [result.co2_share(c) for c in ("I", "II", "III", "IV")] == [0.25, 0.25, 0.375, 0.125]
    assert result.pm25_above_share == 0.25  # 20 µg/m³ from 08:00 to 09:00; the 50s were while closed


def test_a_gap_in_the_data_is_not_counted_and_a_boundary_value_is_the_better_category():
    co2 = [(0, 970.0), (10 * MIN, 971.0), (4 * 60 * MIN, 900.0)]  # 3 h 50 without data after 10 min
    result = compliance(co2, [], end_ms=4 * 60 * MIN + 5 * MIN, outdoor_ppm=420, max_gap_ms=15 * MIN)
    assert result.co2_ms == {"I": 10 * MIN + 5 * MIN, "II": 15 * MIN, "III": 0, "IV": 0}
    assert (
        co2_category(970, 420) == "I" and co2_category(971, 420) == "II" and co2_category(1771, 420) == "IV"
    )
    assert result.pm25_above_share is None  # no PM2.5 readings: no share, not 0 %


async def test_the_report_of_a_room_in_its_local_days_and_as_csv(tmp_path):
    rt = make_runtime(tmp_path / "data")
    try:
        site = await rt.config.create_site({"name": "Paris office", "timezone": "Europe/Paris",
                                            "opening_hours": MORNING})  # fmt: skip
        await rt.config.create_room(site["id"], {"name": "Meeting"})
        co2, pm25, _ = morning_series()
        readings = [
            {"sensor_id": "m1", "enseigne": "Paris office", "salle": "Meeting", "timestamp": ts / 1000,
             "values": {"co2": c, "pm25": p}}
            for (ts, c), (_, p) in zip(co2, pm25, strict=True)
        ]  # fmt: skip
        await rt.ingestion.ingest(readings)
        report = await rt.compliance.report("Paris office", "Meeting", "2026-11-02", "2026-11-02")
        shares = {c["category"]: c["share_pct"] for c in report["co2"]["categories"]}
        assert shares == {"I": 25.0, "II": 25.0, "III": 37.5, "IV": 12.5}
        assert report["co2"]["covered_hours"] == 4.0 and report["co2"]["categories"][0]["limit_ppm"] == 970
        assert report["pm25"]["above_share_pct"] == 25.0 and report["pm25"]["guideline_ugm3"] == 15
        lines = report_csv(report).splitlines()
        assert lines[0] == "enseigne,salle,start,end,measure,category,limit,hours,share_pct"
        assert lines[1] == "Paris office,Meeting,2026-11-02,2026-11-02,co2,I,<= 970 ppm,1.0,25.0"
        assert lines[-1].endswith(",pm25,above WHO 24-h guideline,> 15 µg/m³,1.0,25.0")

        other_day = await rt.compliance.report("Paris office", "Meeting", "2026-11-03", "2026-11-03")
        assert (
            other_day["co2"]["covered_hours"] == 0 and other_day["co2"]["categories"][0]["share_pct"] is None
        )
        with pytest.raises(InvalidInput, match="start: must not be after end"):
            await rt.compliance.report("Paris office", "Meeting", "2026-11-05", "2026-11-02")
        with pytest.raises(InvalidInput, match="end: must be a date"):
            await rt.compliance.report("Paris office", "Meeting", None, "yesterday")
        with pytest.raises(NotFound, match="no room named 'Attic'"):
            await rt.compliance.report("Paris office", "Attic")
    finally:
        await rt.stop()


def test_utc_helper_agrees_with_the_local_clock():
    # 08:00 in Paris on 2 November 2026 (winter time, UTC+1) is 07:00 UTC
    assert is_open_ms(MORNING, int(datetime(2026, 11, 2, 7, 0, tzinfo=UTC).timestamp() * 1000), PARIS)
    assert not is_open_ms(MORNING, int(datetime(2026, 11, 2, 6, 59, tzinfo=UTC).timestamp() * 1000), PARIS)
