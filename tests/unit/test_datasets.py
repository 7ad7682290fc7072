"""Readers of the shared data sets, checked against facts read off the raw files."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice, pairwise
from pathlib import Path

import pytest

from services.datasets import DATASET_FORMATS, DatasetRow, infer_format, payload_from_row, read_dataset
from tests.support.env import DATASETS


@pytest.fixture(scope="module")
def datasets() -> Path:
    if not (DATASETS / "README.md").is_file():
        pytest.fail(f"the shared data sets are expected in {DATASETS} (read-only, next to the project)")
    return DATASETS


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def first(path: Path, fmt: str, n: int = 5, **names: str) -> list[DatasetRow]:
    return list(islice(read_dataset(path, fmt, **names), n))


def test_uci_local_brussels_time_and_59_second_stamps(datasets):
    rows = first(datasets / "uci-occupancy" / "datatest.txt", "uci")
    # Raw: "2015-02-02 14:19:00",23.7,26.272,585.2,749.2,...,1 in Mons (CET, UTC+1).
    assert rows[0].ts == utc(2015, 2, 2, 13, 19)
    assert rows[0].values["co2"] == 749.2
    assert rows[0].values["temperature"] == 23.7
    assert rows[0].values["light"] == 585.2
    assert rows[0].values["occupancy"] == 1.0
    assert rows[0].values["humidity_ratio"] == pytest.approx(0.004764163)
    # Raw: "2015-02-02 14:19:59",...,760.4: the logger's late stamp belongs to 14:20.
    assert (rows[1].ts, rows[1].values["co2"]) == (utc(2015, 2, 2, 13, 20), 760.4)
    assert (rows[0].sensor_id, rows[0].site, rows[0].room, rows[0].units) == (
        "uci-office-1",
        "Mons office",
        "Office",
        {},
    )
    everything = list(read_dataset(datasets / "uci-occupancy" / "datatest.txt", "uci"))
    assert len(everything) == 2665
    assert all(row.ts.second == 0 for row in everything)


def test_uhoo_rome_time_ppb_tvoc_and_first_duplicate_kept(datasets):
    path = datasets / "uhoo-homes" / "1.csv"
    rows = list(read_dataset(path, "uhoo"))
    # Raw: 2018-06-04 00:00,24.3,69.69,7.89,127.00,476.00,0.00,997.27,8.89,0.69,None,0 (CEST, UTC+2).
    head = rows[0]
    assert head.ts == utc(2018, 6, 3, 22, 0)
    assert head.values == {
        "temperature": 24.3,
        "humidity": 69.69,
        "pm25": 7.89,
        "tvoc": 127.0,
        "co2": 476.0,
        "co": 0.0,
        "pressure": 997.27,
        "ozone": 8.89,
        "no2": 0.69,
    }
    assert head.units == {"tvoc": "ppb"}
    assert (head.sensor_id, head.site, head.room) == ("uhoo-home1", "Home 1", "Kitchen")
    # Raw: two "2018-06-04 00:53" lines, co2 502 then 477: the first one wins.
    at_0053 = [row for row in rows[:60] if row.ts == utc(2018, 6, 3, 22, 53)]
    assert [row.values["co2"] for row in at_0053] == [502.0]
    assert len(rows) == 44664 - 739  # lines in the file minus repeated minute stamps
    assert all(a.ts < b.ts for a, b in pairwise(rows))


def test_smart_building_utc_room_from_file_and_glitches_kept(datasets):
    head = first(datasets / "smart-building" / "413.csv", "smart-building")[0]
    # Raw: 2013-08-23 23:05:00,494.72727272727275,45.330000000000005,96.55555555555556,0.0,23.92777777777778
    assert head.ts == utc(2013, 8, 23, 23, 5)
    assert head.values["co2"] == pytest.approx(494.72727)
    assert head.values["pir"] == 0.0
    assert (head.sensor_id, head.site, head.room, head.units) == ("sb-413", "Smart building", "Room 413", {})
    glitch = first(datasets / "smart-building" / "562.csv", "smart-building", 1)[0]
    assert glitch.values["co2"] == pytest.approx(8.714, abs=1e-3)  # nonsense, but validation's call


def test_awair_day_folder_merges_metrics_per_sensor(datasets):
    folder = datasets / "rice130-awair" / "2022-04-14"
    rows = list(read_dataset(folder, "awair"))
    assert len(rows) == 153 * 5  # 153 five-minute stamps, five monitors
    # Raw: 1649943000000 = 2022-04-14 13:30 UTC = 09:30 EDT, when the first class starts.
    opening = [row for row in rows if row.ts == utc(2022, 4, 14, 13, 30)]
    assert len(opening) == 5
    middle = next(row for row in opening if row.sensor_id == "awair-70886b125db1")
    assert middle.values == {
        "co2": 478.233,
        "pm25": 0.533,
        "tvoc": 124.733,
        "temperature": 18.695,
        "humidity": 60.72,
    }
    assert middle.units == {"tvoc": "ppb"}
    assert (middle.site, middle.room) == ("Campus", "Rice 130")
    assert rows[-1].ts == utc(2022, 4, 15, 2, 10)


def test_r1_uses_its_own_names_paris_time_and_keeps_rows_missing_co2(datasets):
    path = datasets / "upstream-r1" / "r1_5min.csv"
    rows = list(read_dataset(path, "r1"))
    assert len(rows) == 22526
    # Raw: "2023-05-26 00:00:00","455.063889",... "Maison","Bureau","Bureau1" (CEST, UTC+2).
    assert [row.sensor_id for row in rows[:4]] == ["Bureau1", "Bureau2", "Bureau3", "Bureau4"]
    assert {row.ts for row in rows[:4]} == {utc(2023, 5, 25, 22, 0)}
    assert (rows[0].site, rows[0].room, rows[0].values["co2"]) == ("Maison", "Bureau", 455.063889)
    # Raw: "2023-06-10 11:35:00","","14.400000",... an empty co2 cell drops the metric, not the row.
    gap = next(row for row in rows if row.sensor_id == "Bureau1" and row.ts == utc(2023, 6, 10, 9, 35))
    assert "co2" not in gap.values and gap.values["pm25"] == 14.4
    renamed = first(path, "r1", 1, site="Demo home", room="Study")[0]
    assert (renamed.site, renamed.room, renamed.sensor_id) == ("Demo home", "Study", "Bureau1")


def test_non_finite_and_blank_cells_drop_only_that_metric(tmp_path):
    path = tmp_path / "2.csv"
    path.write_text(
        "2018-06-04 00:01,24.3,nan,4.75,inf,510.00,0.00,997.29,8.87,0.56,None,0\n"
        "2018-06-04 00:00,24.3,69.69,,127.00,476.00,0.00,997.27,8.89,0.69,None,0\n"
    )
    rows = list(read_dataset(path, "uhoo"))
    assert [row.ts for row in rows] == [utc(2018, 6, 3, 22, 0), utc(2018, 6, 3, 22, 1)]  # re-sorted
    assert "pm25" not in rows[0].values and rows[0].units == {"tvoc": "ppb"}
    assert "humidity" not in rows[1].values and "tvoc" not in rows[1].values and rows[1].units == {}


def test_infer_format_and_errors(datasets):
    assert infer_format(datasets / "uci-occupancy" / "datatraining.txt") == "uci"
    assert infer_format(datasets / "uhoo-homes" / "3.csv") == "uhoo"
    assert infer_format(datasets / "smart-building" / "621.csv") == "smart-building"
    assert infer_format(datasets / "rice130-awair" / "2022-04-14") == "awair"
    assert infer_format(datasets / "rice130-awair" / "2022-04-14" / "voc_ppb.csv") == "awair"
    assert infer_format(datasets / "upstream-r1" / "r1_5min.csv") == "r1"
    assert infer_format(datasets / "README.md") is None
    assert set(DATASET_FORMATS) == {"uci", "uhoo", "smart-building", "awair", "r1"}
    with pytest.raises(ValueError, match="unknown data set format"):
        read_dataset(datasets / "uhoo-homes" / "1.csv", "csv")
    with pytest.raises(FileNotFoundError):
        read_dataset(datasets / "nope.csv", "uhoo")


def test_payload_from_row_matches_the_ingest_format(datasets):
    row = first(datasets / "uhoo-homes" / "4.csv", "uhoo", 1)[0]
    assert payload_from_row(row) == {
        "sensor_id": "uhoo-home4",
        "enseigne": "Home 4",
        "salle": "Kitchen",
        "timestamp": "2018-07-23T22:00:00Z",
        "values": {
            "temperature": 26.5,
            "humidity": 65.13,
            "pm25": 5.93,
            "tvoc": 33.0,
            "co2": 527.0,
            "co": 0.0,
            "pressure": 1013.93,
            "ozone": 8.98,
            "no2": 31.44,
        },
        "units": {"tvoc": "ppb"},
    }
    stamp = datetime(2026, 11, 27, 10, 5, 0, 250_000, tzinfo=UTC)
    plain = DatasetRow(stamp, "s", "Site", "Room", {"co2": 645.0})
    assert payload_from_row(plain)["timestamp"] == "2026-11-27T10:05:00.250Z"
    assert "units" not in payload_from_row(plain)
