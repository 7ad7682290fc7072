"""Rollups and retention on both time-series stores: aggregates read from rollups are those of the raw
readings, survive the raw readings' retention, and include readings that arrived after the last rollup run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.bus import Measurement
from app.core.domain.timesteps import to_ms
from app.core.storage.rollups import SqlRollupStore
from services.rollups import RollupReader, RollupService
from tests.support.storage import T0, put

H = 3_600_000
NOW = T0 + timedelta(days=45)


def service(store, tmp_path, *, now=NOW, raw_days=30, disk_warn=0) -> RollupService:
    return RollupService(
        store=store,
        rollups=SqlRollupStore(store.engine),
        raw_retention_days=raw_days,
        rollup_retention_days=730,
        interval_s=300,
        data_dir=tmp_path,
        disk_warn_percent=disk_warn,
        clock=lambda: now.timestamp(),
    )


def readings(start, minutes: int, room: int = 1, every: int = 1):
    return [
        (room, room, start + timedelta(minutes=m), {"co2": 400 + (m * 7) % 300, "pm25": m % 13})
        for m in range(0, minutes, every)
    ]


def stats(buckets):
    return {
        (b.room_id, b.ts_ms): {m: tuple(round(x, 6) for x in s) for m, s in b.stats.items()} for b in buckets
    }


@pytest.mark.parametrize("step_ms", [300_000, H, 6 * H])
def test_aggregates_from_rollups_equal_those_of_the_raw_readings(store, tmp_path, step_ms):
    start = NOW - timedelta(hours=10, minutes=7)
    put(store, *readings(start, 9 * 60), *readings(start, 9 * 60, room=2, every=3))
    rollups = service(store, tmp_path)
    rollups.run_once()
    reader = RollupReader(store, rollups)
    lo, hi = to_ms(start) + 60_000, to_ms(NOW)  # edges inside buckets: those parts come from raw readings
    expected = store.query_buckets([1, 2], lo, hi, step_ms, metrics=["co2", "pm25"])
    assert stats(reader.query_buckets([1, 2], lo, hi, step_ms, metrics=["co2", "pm25"])) == stats(expected)


def test_rollups_keep_answering_after_raw_readings_pass_retention(store, tmp_path):
    old = NOW - timedelta(days=40)
    put(store, *readings(old, 180), *readings(NOW - timedelta(hours=2), 60))
    before = store.query_buckets([1], to_ms(old), to_ms(old) + 3 * H, H, metrics=["co2"])
    service(store, tmp_path, now=old + timedelta(days=1)).run_once()  # rolled up while they were recent
    rollups = service(store, tmp_path)  # 39 days later (a restart on the way)
    rollups.run_once()
    assert store.query_raw([1], to_ms(old), to_ms(old) + 3 * H) == []  # raw readings past 30 days are gone
    assert len(store.query_raw([1], to_ms(NOW) - 3 * H, to_ms(NOW))) == 60  # recent ones stay
    reader = RollupReader(store, rollups)
    after = reader.query_buckets([1], to_ms(old), to_ms(old) + 3 * H, H, metrics=["co2"])
    assert stats(after) == stats(before) and len(after) == 3


def test_a_late_reading_counts_at_once_and_after_the_next_run(store, tmp_path):
    start = NOW - timedelta(hours=3)
    put(store, *readings(start, 60))
    rollups = service(store, tmp_path)
    rollups.run_once()
    late = start + timedelta(minutes=30, seconds=30)
    put(store, (1, 1, late, {"co2": 5000}))
    rollups.on_measurements([Measurement("s1", "Paris", "A", 1, to_ms(late), {"co2": 5000})])
    reader = RollupReader(store, rollups)
    (bucket,) = reader.query_buckets([1], to_ms(start), to_ms(start) + H, H, metrics=["co2"])
    assert bucket.stats["co2"][2:] == (5000, 61)  # max and count include the late reading
    rollups.run_once()
    (bucket,) = reader.query_buckets([1], to_ms(start), to_ms(start) + H, H, metrics=["co2"])
    assert bucket.stats["co2"][2:] == (5000, 61)


def test_the_disk_guard_warns_when_free_space_is_below_the_set_share(store, tmp_path):
    assert service(store, tmp_path, disk_warn=0).check_disk()["status"] == "ok"
    warned = service(store, tmp_path, disk_warn=100).check_disk()
    assert warned["status"] == "warning" and warned["message"].startswith("disk nearly full")


def test_health_and_dashboard_warn_before_the_disk_fills(tmp_path):
    from tests.support.servers import platform

    with platform(tmp_path / "data", IAQ_DISK_WARN_PERCENT="100") as srv, srv.client() as api:
        health = api.get("/health")
        assert health.status_code == 200, health.text  # a warning: the platform still serves
        assert health.json()["checks"]["disk"]["message"].startswith("disk nearly full")


def test_history_older_than_the_retention_is_rolled_up_before_its_raw_readings_go(store, tmp_path):
    old = NOW - timedelta(days=200)  # e.g. a platform upgraded to rollups with months of history
    put(store, *readings(old, 120))
    before = store.query_buckets([1], to_ms(old), to_ms(old) + 2 * H, H, metrics=["co2", "pm25"])
    rollups = service(store, tmp_path)
    rollups.run_once()
    assert store.query_raw([1], to_ms(old), to_ms(old) + 2 * H) == []
    after = RollupReader(store, rollups).query_buckets([1], to_ms(old), to_ms(old) + 2 * H, H)
    assert stats(after) == stats(before) and len(after) == 2
