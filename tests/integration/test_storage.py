"""The time-series contract, on a real SQLite file and on a real InfluxDB: aggregation edge cases, local days,
latest values, duplicates, paging, readings not yet sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.core.db.session import make_sessionmaker
from app.core.domain.timesteps import to_ms
from services.query import QueryService, RoomRef, Scope
from tests.support.storage import T0, H, put


def test_empty_range_gives_no_buckets(store):
    assert store.query_buckets([1], to_ms(T0), to_ms(T0) + H, 300_000) == []
    assert store.query_raw([1], to_ms(T0), to_ms(T0) + H) == []


def test_buckets_hold_mean_min_max_count_and_gaps_stay_empty(store):
    put(
        store,
        *[(1, 1, T0 + timedelta(minutes=m), {"co2": 400 + m}) for m in (0, 1, 2, 3, 4)],
        *[(1, 1, T0 + timedelta(minutes=m), {"co2": 800}) for m in (20, 21)],
    )
    buckets = store.query_buckets([1], to_ms(T0), to_ms(T0) + H, 300_000, metrics=["co2"])
    assert [b.ts_ms for b in buckets] == [to_ms(T0), to_ms(T0 + timedelta(minutes=20))]  # 5-15 min: a gap
    total, lo, hi, n = buckets[0].stats["co2"]
    assert (total / n, lo, hi, n) == (402, 400, 404, 5)


def test_bucket_boundaries_start_inclusive_end_exclusive(store):
    put(
        store,
        (1, 1, T0, {"co2": 500}),
        (1, 1, T0 + timedelta(minutes=5), {"co2": 600}),
        (1, 1, T0 + timedelta(minutes=10), {"co2": 700}),
    )
    buckets = store.query_buckets([1], to_ms(T0), to_ms(T0 + timedelta(minutes=10)), 300_000)
    assert [(b.ts_ms - to_ms(T0)) // 60_000 for b in buckets] == [0, 5]  # 10:10 is outside [10:00, 10:10)
    assert [b.stats["co2"][3] for b in buckets] == [1, 1]


def test_rooms_are_aggregated_separately(store):
    put(store, (1, 1, T0, {"co2": 500}), (2, 2, T0, {"co2": 900}))
    buckets = store.query_buckets([1, 2], to_ms(T0), to_ms(T0) + H, H)
    assert {(b.room_id, b.stats["co2"][0]) for b in buckets} == {(1, 500), (2, 900)}


def test_extra_metrics_are_stored_and_aggregated(store):
    put(store, (1, 1, T0, {"co2": 500, "no2": 10}), (1, 1, T0 + timedelta(minutes=1), {"no2": 30}))
    (bucket,) = store.query_buckets([1], to_ms(T0), to_ms(T0) + H, H, metrics=["no2", "co2"])
    assert bucket.stats["no2"] == (40, 10, 30, 2)
    assert bucket.stats["co2"] == (500, 500, 500, 1)
    raw = store.query_raw([1], to_ms(T0), to_ms(T0) + H)
    assert raw[1].values == {"no2": 30}


def test_latest_value_is_not_replaced_by_an_older_late_reading(store):
    put(store, (1, 1, T0 + timedelta(minutes=10), {"co2": 900}))
    put(store, (1, 1, T0, {"co2": 400, "pm25": 3}))  # back-filled history arrives later
    latest = {v.metric: v.value for v in store.latest([1])}
    assert latest == {"co2": 900, "pm25": 3}


def test_a_reading_sent_again_with_other_values_changes_neither_it_nor_the_latest_value(store):
    put(store, (1, 1, T0, {"co2": 600}))
    put(store, (1, 1, T0, {"co2": 2500}), (1, 1, T0 + timedelta(minutes=1), {"co2": 610}))
    assert [(r.ts_ms, r.values["co2"]) for r in store.query_raw([1], to_ms(T0), to_ms(T0) + H)] == [
        (to_ms(T0), 600),
        (to_ms(T0) + 60_000, 610),
    ]
    put(store, (1, 1, T0 + timedelta(minutes=1), {"co2": 3000}))  # the newest, again, with another value
    assert {v.metric: v.value for v in store.latest([1])} == {"co2": 610}


def test_latest_values_of_one_batch_take_each_metric_from_its_newest_reading(store):
    put(
        store,
        (1, 1, T0 + timedelta(minutes=2), {"co2": 700, "no2": 12}),
        (1, 1, T0 + timedelta(minutes=5), {"co2": 800}),  # the room's newest reading has no no2 nor pm25
        (1, 1, T0 + timedelta(minutes=1), {"no2": 11, "pm25": 4}),
        (2, 2, T0 + timedelta(minutes=3), {"co2": 450, "pm25": 9}),
        (1, 2, T0 + timedelta(minutes=3), {"co2": 460}),  # same time, another sensor: the later one counts
    )
    latest = {(v.room_id, v.metric): (v.value, v.ts_ms - to_ms(T0)) for v in store.latest()}
    assert latest == {
        (1, "co2"): (800, 5 * 60_000),
        (1, "no2"): (12, 2 * 60_000),
        (1, "pm25"): (4, 1 * 60_000),
        (2, "co2"): (460, 3 * 60_000),
        (2, "pm25"): (9, 3 * 60_000),
    }


def test_daily_buckets_follow_local_midnight_across_a_dst_change(store, tmp_path):
    # Europe/Paris springs forward on 2026-03-29: that local day has 23 hours.
    paris = ZoneInfo("Europe/Paris")
    rows = []
    day = datetime(2026, 3, 28, 0, 30, tzinfo=paris)
    for hour in range(0, 72):
        ts = day.astimezone(UTC) + timedelta(hours=hour)
        rows.append((1, 1, ts, {"co2": 500}))
    put(store, *rows)
    query = QueryService(sessions=make_sessionmaker(store.engine), store=store)
    scope = Scope([RoomRef(1, "A", "Paris", paris)], None, {})
    start = datetime(2026, 3, 28, tzinfo=paris)
    buckets = query.buckets(scope, to_ms(start), to_ms(start + timedelta(days=3)), 86400)
    starts = [datetime.fromtimestamp(b.ts_ms / 1000, paris) for b in buckets]
    assert [s.strftime("%m-%d %H:%M %z") for s in starts] == [
        "03-28 00:00 +0100",
        "03-29 00:00 +0100",
        "03-30 00:00 +0200",
    ]
    counts = [b.stats["co2"][3] for b in buckets]
    assert counts[1] == 23  # the short day holds 23 hourly readings, not 24
    assert counts[0] == 24


async def test_overview_of_one_site_or_one_room_reads_only_those(store):
    put(store, (1, 1, T0, {"co2": 500}), (2, 2, T0, {"co2": 900}))
    query = QueryService(sessions=make_sessionmaker(store.engine), store=store)
    everything = await query.overview()
    assert [[r.values["co2"] for r in s.rooms] for s in everything] == [[500, 900]]
    (one_site,) = await query.overview(site_id=1)
    assert [r.name for r in one_site.rooms] == ["A", "B"]
    (room_only,) = await query.overview(room_id=2)
    assert [(r.name, r.values) for r in room_only.rooms] == [("B", {"co2": 900})]
    assert await query.overview(site_id=99) == []


def test_a_committed_reading_is_readable_before_it_reaches_the_backend(store):
    put(store, (1, 1, T0, {"co2": 500}), send=False)
    put(store, (1, 1, T0 + timedelta(minutes=1), {"co2": 700}))
    raw = store.query_raw([1], to_ms(T0), to_ms(T0) + H)
    assert [r.values["co2"] for r in raw] == [500, 700]
    (bucket,) = store.query_buckets([1], to_ms(T0), to_ms(T0) + H, H, metrics=["co2"])
    assert bucket.stats["co2"] == (1200, 500, 700, 2)
    assert store.count([1]) == 2


def test_stored_keys_are_recognised_as_duplicates(store):
    put(store, (1, 1, T0, {"co2": 500}))
    put(store, (2, 2, T0, {"co2": 600}), send=False)
    with store.engine.connect() as conn:
        keys = [(1, to_ms(T0)), (2, to_ms(T0)), (1, to_ms(T0) + 1)]
        assert store.existing_keys(conn, keys) == {(1, to_ms(T0)), (2, to_ms(T0))}


def test_paging_with_after_lists_every_reading_once_even_at_equal_times(store):
    rows = [(s, s, T0 + timedelta(minutes=m), {"co2": 400 + m}) for m in range(5) for s in (1, 2)]
    put(store, *rows)
    seen, after = [], None
    while page := store.query_raw([1, 2], to_ms(T0), to_ms(T0) + H, limit=3, after=after):
        seen += [(r.ts_ms, r.room_id, r.sensor_pk) for r in page]
        after = seen[-1]
    assert len(seen) == 10 and seen == sorted(set(seen))


def test_values_written_as_integers_stay_numbers_of_one_type(store):
    put(store, (1, 1, T0, {"co2": 500}))  # an int first, then a float: InfluxDB refuses mixed field types
    put(store, (1, 1, T0 + timedelta(minutes=1), {"co2": 500.5}))
    assert [r.values["co2"] for r in store.query_raw([1], to_ms(T0), to_ms(T0) + H)] == [500, 500.5]
