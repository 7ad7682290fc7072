"""The score recorder takes a committed batch at once (merging a room's readings lazily, services/scoring.py):
whatever the batch, it must record the very scores, and keep the very latest values, that it would have
had the readings come one by one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.bus import EventBus, Measurement
from services.scoring import ScoringService

METRICS = ["co2", "pm25", "tvoc", "temperature", "humidity", "noise"]
RANGES = {
    "co2": (400, 3000),
    "pm25": (0, 80),
    "tvoc": (0, 2000),
    "temperature": (10, 35),
    "humidity": (10, 90),
}


@st.composite
def measurements(draw):
    room = draw(st.sampled_from([1, 2]))
    names = draw(st.sets(st.sampled_from(METRICS), min_size=1))
    values = {n: float(draw(st.integers(*RANGES.get(n, (30, 90))))) for n in names}
    ts_ms = draw(st.integers(0, 600)) * 5_000  # 0 to 50 min, every 5 s: in order, repeated and late ones
    return Measurement("s", "Site", f"Room {room}", room, 1_700_000_000_000 + ts_ms, values)


def recorder() -> ScoringService:
    return ScoringService(sessions=None, store=None, scores=None, bus=EventBus())  # type: ignore[arg-type]


@given(st.lists(measurements(), max_size=60), st.booleans())
@settings(max_examples=300, deadline=None)
def test_a_batch_is_scored_as_its_readings_one_by_one(batch, in_order):
    if in_order:  # a gateway's replay: one room after the other, in time order
        batch = sorted(batch, key=lambda m: (m.room_id, m.ts_ms))
    whole, single = recorder(), recorder()
    whole.on_measurements(batch)
    for m in batch:
        single.on_measurements([m])
    assert whole._pending == single._pending
    assert {r: s.values for r, s in whole._rooms.items()} == {r: s.values for r, s in single._rooms.items()}
