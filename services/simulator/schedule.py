"""Occupancy and activity schedules for simulated rooms.

Everything here is a pure function of (seed, local time): a room looks the same
whether it is stepped every 5 s live or every minute in a backfill, and two runs
with the same seed agree. Randomness per day or per slot comes from string-seeded
``random.Random`` instances, which are stable across processes (unlike ``hash``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

PROFILES = ("office", "meeting", "retail", "home")

# Weekday occupancy as a fraction of capacity at local hours (linear in between).
OFFICE_WEEKDAY = (
    (0, 0),
    (7.5, 0),
    (9.5, 0.9),
    (12, 0.9),
    (12.5, 0.45),
    (13.25, 0.45),
    (14, 0.9),
    (16.5, 0.85),
    (18.5, 0.1),
    (20, 0),
    (24, 0),
)
OFFICE_WEEKEND = ((0, 0), (10, 0), (11, 0.05), (16, 0.05), (17, 0), (24, 0))  # near empty
# Customers as a fraction of the floor's customer capacity; the store shuts on Sundays.
RETAIL_OPEN = (
    (0, 0),
    (10, 0),
    (10.1, 0.15),
    (12.5, 0.55),
    (14, 0.35),
    (17.5, 0.7),
    (19, 0.3),
    (19.05, 0),
    (24, 0),
)
HOME_WEEKDAY = ((0, 1), (7.5, 1), (8.5, 0.15), (17.5, 0.15), (18.5, 1), (24, 1))
HOME_WEEKEND = ((0, 1), (9.5, 1), (10.5, 0.6), (17, 0.6), (18, 1), (24, 1))

# Emission of evening cleaning (PM2.5, TVOC) per m³ of room.
CLEANING_UG_PER_H_PER_M3 = (50.0, 500.0)

# How fast people follow the schedule: offices fill over minutes, meetings start at once.
ARRIVAL_TIME_CONSTANT_S = {"office": 600.0, "meeting": 60.0, "retail": 300.0, "home": 900.0}


@dataclass(frozen=True, slots=True)
class Activity:
    """A planned burst: people in a meeting, or an emission (printing, cleaning, cooking)."""

    kind: str
    start: datetime  # aware, room-local
    end: datetime
    people: int = 0
    pm25_ug_per_h: float = 0.0
    tvoc_ug_per_h: float = 0.0


def _interp(knots: tuple[tuple[float, float], ...], hour: float) -> float:
    for (h0, v0), (h1, v1) in pairwise(knots):
        if h0 <= hour <= h1:
            return v0 if h1 == h0 else v0 + (v1 - v0) * (hour - h0) / (h1 - h0)
    return knots[-1][1]


def _hours(when: datetime) -> float:
    return when.hour + when.minute / 60 + when.second / 3600


class Schedule:
    """Target head count, HVAC hours and planned activities of one room in its local time."""

    def __init__(
        self, profile: str, capacity: int, tz: ZoneInfo, seed: int, volume_m3: float = 300.0
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
        self.profile, self.capacity, self.tz, self.seed = profile, capacity, tz, seed
        self.volume_m3 = volume_m3  # cleaning a bigger room stirs more dust and uses more product
        self.arrival_time_constant_s = ARRIVAL_TIME_CONSTANT_S[profile]
        self._plans: dict[date, tuple[Activity, ...]] = {}

    def _rng(self, *key: object) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, self.profile, *key))))

    def target_occupants(self, when: datetime) -> int:
        """How many people the schedule wants in the room at ``when`` (any zone)."""
        local = when.astimezone(self.tz)
        if self.profile == "meeting":
            return max((a.people for a in self.activities(local, local) if a.kind == "meeting"), default=0)
        hour, weekday = _hours(local), local.weekday()
        # Half-hour slots get their own jitter so days differ but steps of any size agree.
        jitter = self._rng(local.date(), local.hour, local.minute // 30).uniform(0.8, 1.1)
        if self.profile == "office":
            fraction = _interp(OFFICE_WEEKDAY if weekday < 5 else OFFICE_WEEKEND, hour)
            fraction *= 0.8 if weekday == 4 else 1.0  # lighter Fridays
            return min(self.capacity, round(self.capacity * fraction * jitter))
        if self.profile == "retail":
            staff = min(self.capacity, 1 + self.capacity // 10)
            if weekday == 6 or not 9.5 <= hour < 19.5:
                return 0
            busy = _interp(RETAIL_OPEN, hour) * (1.3 if weekday == 5 else 1.0) * jitter
            return min(self.capacity, staff + round((self.capacity - staff) * busy))
        fraction = _interp(HOME_WEEKDAY if weekday < 5 else HOME_WEEKEND, hour)
        return min(self.capacity, round(self.capacity * fraction * jitter))

    def hvac_on(self, when: datetime) -> bool:
        """Whether heating and mechanical ventilation run (else night setback, infiltration only)."""
        local = when.astimezone(self.tz)
        hour, weekday = _hours(local), local.weekday()
        if self.profile in ("office", "meeting"):
            return weekday < 5 and 6.5 <= hour < 19.5
        if self.profile == "retail":
            return weekday < 6 and 8.5 <= hour < 20.5
        return not (hour >= 23 or hour < 6)

    def activities(self, start: datetime, end: datetime) -> list[Activity]:
        """Planned activities overlapping [start, end] (a zero-length span means an instant)."""
        found = []
        first, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        day = first - timedelta(days=1)  # yesterday's evening activity may run past midnight
        while day <= last:
            found.extend(a for a in self._plan(day) if a.start <= end and a.end > start)
            day += timedelta(days=1)
        return found

    def _plan(self, day: date) -> tuple[Activity, ...]:
        plan = self._plans.get(day)
        if plan is None:
            if len(self._plans) > 8:  # only a few days around "now" are ever asked for
                self._plans.clear()
            plan = self._plans[day] = tuple(sorted(self._make_plan(day), key=lambda a: a.start))
        return plan

    def _at(self, day: date, hour: float, minutes: float) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time(), self.tz) + timedelta(hours=hour)
        return start, start + timedelta(minutes=minutes)

    def _make_plan(self, day: date) -> list[Activity]:
        rng, weekday, plan = self._rng(day, "plan"), day.weekday(), []
        workday = weekday < 5 if self.profile != "retail" else weekday < 6
        if self.profile == "meeting" and workday:
            free_from = 8.0
            for hour in range(8, 18):
                start_h = hour + rng.choice((0.0, 0.0, 0.5))
                minutes = rng.choice((30, 45, 60))
                if rng.random() < (0.2 if hour == 12 else 0.55) and start_h >= free_from:
                    people = rng.randint(max(1, self.capacity - 2), self.capacity)
                    plan.append(Activity("meeting", *self._at(day, start_h, minutes), people=people))
                    free_from = start_h + minutes / 60
        if self.profile == "office" and workday:
            # Laser printers: short bursts of fine particles and VOCs during the day.
            for _ in range(rng.randint(3, 8)):
                window = self._at(day, rng.uniform(9, 17.5), rng.uniform(3, 8))
                plan.append(Activity("printing", *window, pm25_ug_per_h=8_000, tvoc_ug_per_h=15_000))
        if self.profile in ("office", "meeting", "retail") and workday and rng.random() < 0.85:
            # Evening cleaning: vacuuming resuspends dust, products release VOCs.
            window = self._at(day, rng.uniform(19.5, 20.5), rng.uniform(25, 45))
            pm25, tvoc = CLEANING_UG_PER_H_PER_M3
            plan.append(
                Activity(
                    "cleaning",
                    *window,
                    pm25_ug_per_h=pm25 * self.volume_m3,
                    tvoc_ug_per_h=tvoc * self.volume_m3,
                )
            )
        if self.profile == "home":
            meals = [(7.0, 0.5, 15), (19.25, 0.9, 40)] + ([(12.5, 0.8, 35)] if weekday >= 5 else [])
            for hour, chance, minutes in meals:
                if rng.random() < chance:
                    # Frying can emit mg of PM2.5 per minute; this is a moderate meal.
                    window = self._at(day, hour + rng.uniform(-0.3, 0.5), minutes * rng.uniform(0.7, 1.3))
                    plan.append(Activity("cooking", *window, pm25_ug_per_h=20_000, tvoc_ug_per_h=40_000))
        return plan
