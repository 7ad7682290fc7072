"""A single-zone, well-mixed room model for the demo simulator.

Every quantity follows a first-order balance ``dx/dt = source - rate * x`` whose
inputs (people, air change rate, emissions) are held constant over a step, so it
is integrated exactly: ``x(t+dt) = x_eq + (x - x_eq) * exp(-rate * dt)``. A backfill
stepping whole minutes is therefore as stable and as accurate as a live loop
stepping seconds. The model is pure: no clock, no I/O; callers pass the time.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.simulator.schedule import Schedule

# CO2 exhaled by a seated adult doing office work (1.2 met): 0.0052 L/s, the figure
# ASHRAE 62.1 uses in its ventilation rationale (0.31 L/min); Persily & de Jonge,
# "Carbon dioxide generation rates for building occupants", Indoor Air 27 (2017),
# tabulate rates by age, sex and activity around that value.
CO2_GENERATION_M3_PER_H = 0.0052e-3 * 3600  # ≈ 0.0187 m³/h per person
# Latent and sensible load of a seated adult (ASHRAE Handbook Fundamentals, ch. 18):
# about 45 W latent, i.e. 45 W / 2450 J/g ≈ 65 g/h of water vapour, and about 75 W sensible.
MOISTURE_G_PER_H_PER_PERSON = 65.0
SENSIBLE_HEAT_W_PER_PERSON = 75.0
# Bioeffluent VOCs (isoprene, acetone, skin oil oxidation products): a few mg/h per person.
TVOC_UG_PER_H_PER_PERSON = 2_500.0
# PM2.5 deposition on surfaces, typically 0.1-0.4 /h (e.g. Riley et al., Environ. Sci. Technol. 2002),
# and the fraction of outdoor PM2.5 getting through the envelope.
PM25_DEPOSITION_PER_H = 0.2
PM25_PENETRATION = 0.8
# HVAC heat removal capacity per m³ of room, and how fast it pulls the air to the setpoint.
HVAC_W_PER_K_PER_M3 = 10.0
HVAC_RATE_PER_H = 1.0
NIGHT_SETBACK_C = 2.5
# Walls and furniture buffer the air's temperature, so outdoor air moves it less than the ACH.
OUTDOOR_HEAT_COUPLING = 0.3
MIN_ACH_PER_H = 0.05  # no room is airtight; also keeps every balance well defined
# Building materials and furniture off-gas steadily; outdoor air carries a little TVOC too.
MATERIALS_TVOC_UG_PER_H_PER_M3 = 25.0
OUTDOOR_TVOC_UGM3 = 20.0
# Share of the purifier's particle CADR that its activated-carbon stage achieves for VOCs.
PURIFIER_TVOC_EFFICIENCY = 0.2


def saturation_vapour_g_m3(temperature_c: float) -> float:
    """Water vapour density at saturation (Magnus formula, WMO coefficients)."""
    pressure_pa = 611.2 * math.exp(17.62 * temperature_c / (243.12 + temperature_c))
    return pressure_pa / (461.5 * (temperature_c + 273.15)) * 1000.0


def outdoor_conditions(when: datetime) -> tuple[float, float, float]:
    """Outdoor (temperature °C, vapour g/m³, PM2.5 µg/m³) of a temperate European city at ``when``.

    Seasonal and daily sine waves: good enough to make windows and infiltration behave
    differently in January and July, deliberately not a weather model.
    """
    season = math.cos(2 * math.pi * (when.timetuple().tm_yday - 15) / 365.25)  # 1 mid-January
    hour = when.hour + when.minute / 60
    temperature_c = 12.5 - 7.5 * season + 4.0 * math.cos(2 * math.pi * (hour - 15) / 24)
    vapour_g_m3 = 8.25 - 2.75 * season
    traffic = math.exp(-((hour - 8.5) ** 2) / 2) + math.exp(-((hour - 18.5) ** 2) / 2)
    pm25_ugm3 = 7.0 + 3.0 * season + 5.0 * traffic  # winter heating and rush hours
    return temperature_c, vapour_g_m3, pm25_ugm3


def _integrate(x: float, source_per_h: float, rate_per_h: float, dt_h: float) -> float:
    """Exact solution of dx/dt = source - rate * x over dt with constant inputs."""
    if rate_per_h <= 1e-12:
        return x + source_per_h * dt_h
    steady = source_per_h / rate_per_h
    return steady + (x - steady) * math.exp(-rate_per_h * dt_h)


class RoomModel:
    """One room's air: CO2, PM2.5, TVOC, temperature and humidity driven by people and actuators.

    Set ``ventilation_on``, ``purifier_on`` and ``window_open`` at any time; they act from the
    next :meth:`step`. ``fixed_occupants`` pins the head count (tests, what-if scenarios);
    otherwise the ``profile`` schedule (office, meeting, retail, home) in ``tz`` drives it.
    """

    def __init__(
        self,
        *,
        volume_m3: float = 300.0,
        capacity: int = 20,
        profile: str = "office",
        tz: str = "Europe/Paris",
        ach_per_h: float = 1.5,
        night_ach_per_h: float | None = None,
        outdoor_co2_ppm: float = 420.0,
        setpoint_c: float = 21.5,
        seed: int | None = None,
        fixed_occupants: int | None = None,
        random_events: bool = True,
        ventilation_boost_ach_per_h: float = 4.0,
        window_ach_per_h: float = 3.0,
        purifier_cadr_m3_per_h: float = 300.0,
    ) -> None:
        if volume_m3 <= 0 or ach_per_h < 0 or capacity < 0:
            raise ValueError("volume_m3 must be > 0, ach_per_h and capacity >= 0")
        self.volume_m3 = volume_m3
        self.capacity = capacity
        self.ach_per_h = ach_per_h
        self.night_ach_per_h = ach_per_h if night_ach_per_h is None else night_ach_per_h
        self.outdoor_co2_ppm = outdoor_co2_ppm
        self.setpoint_c = setpoint_c
        self.fixed_occupants = fixed_occupants
        self.random_events = random_events
        self.ventilation_boost_ach_per_h = ventilation_boost_ach_per_h
        self.window_ach_per_h = window_ach_per_h
        self.purifier_cadr_m3_per_h = purifier_cadr_m3_per_h
        # Actuators, driven by the platform's automations.
        self.ventilation_on = False
        self.purifier_on = False
        self.window_open = False

        self.seed = random.randrange(2**32) if seed is None else seed
        self._rng = random.Random(self.seed)
        self.schedule = Schedule(profile, capacity, ZoneInfo(tz), self.seed, volume_m3)
        # State: start as a room that has been empty and ventilated for a while.
        self.occupants = fixed_occupants or 0
        self.co2_ppm = outdoor_co2_ppm + 20.0
        self.pm25_ugm3 = 5.0
        self.tvoc_ugm3 = 60.0
        self.temperature_c = setpoint_c
        self.vapour_g_m3 = 0.4 * saturation_vapour_g_m3(setpoint_c)
        self._temperature_drift_c = 0.0  # slow Ornstein-Uhlenbeck wander of the thermal balance

    @property
    def humidity_pct(self) -> float:
        """Relative humidity of the room air, from vapour density and temperature."""
        return min(100.0, 100.0 * self.vapour_g_m3 / saturation_vapour_g_m3(self.temperature_c))

    def effective_ach_per_h(self, when: datetime | None = None) -> float:
        """Total air change rate: scheduled base (night rate outside HVAC hours) plus actuators."""
        base = self.ach_per_h
        if when is not None and not self.schedule.hvac_on(when):
            base = self.night_ach_per_h
        base += self.ventilation_boost_ach_per_h if self.ventilation_on else 0.0
        base += self.window_ach_per_h if self.window_open else 0.0
        return max(MIN_ACH_PER_H, base)

    def steady_state_co2_ppm(self, occupants: int, ach_per_h: float | None = None) -> float:
        """Analytic CO2 equilibrium C_out + G*N*1e6/(V*ACH) for a constant head count."""
        ach = self.effective_ach_per_h() if ach_per_h is None else max(MIN_ACH_PER_H, ach_per_h)
        return self.outdoor_co2_ppm + CO2_GENERATION_M3_PER_H * occupants * 1e6 / (self.volume_m3 * ach)

    def step(self, now: datetime, dt_s: float) -> dict[str, float]:
        """Advance the state over the ``dt_s`` seconds ending at ``now``; return sensor values."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if dt_s < 0:
            raise ValueError("dt_s must be >= 0")
        dt_h = dt_s / 3600.0
        start = now - timedelta(seconds=dt_s)
        middle = now - timedelta(seconds=dt_s / 2)  # inputs sampled mid-step suit large steps
        self._update_occupants(middle, dt_s)
        ach = self.effective_ach_per_h(middle)
        outdoor_temperature_c, outdoor_vapour_g_m3, outdoor_pm25 = outdoor_conditions(
            middle.astimezone(self.schedule.tz)
        )
        pm25_emission, tvoc_emission = self._activity_emissions_ug_per_h(start, now, dt_s)
        volume, people = self.volume_m3, self.occupants

        self.co2_ppm = _integrate(
            self.co2_ppm,
            CO2_GENERATION_M3_PER_H * people * 1e6 / volume + ach * self.outdoor_co2_ppm,
            ach,
            dt_h,
        )
        purifier_per_h = self.purifier_cadr_m3_per_h / volume if self.purifier_on else 0.0
        self.pm25_ugm3 = _integrate(
            self.pm25_ugm3,
            ach * PM25_PENETRATION * outdoor_pm25 + pm25_emission / volume,
            ach + PM25_DEPOSITION_PER_H + purifier_per_h,
            dt_h,
        )
        self.tvoc_ugm3 = _integrate(
            self.tvoc_ugm3,
            MATERIALS_TVOC_UG_PER_H_PER_M3
            + (TVOC_UG_PER_H_PER_PERSON * people + tvoc_emission) / volume
            + ach * OUTDOOR_TVOC_UGM3,
            ach + PURIFIER_TVOC_EFFICIENCY * purifier_per_h,
            dt_h,
        )
        self._step_temperature(middle, dt_s, outdoor_temperature_c)
        self.vapour_g_m3 = _integrate(
            self.vapour_g_m3,
            MOISTURE_G_PER_H_PER_PERSON * people / volume + ach * outdoor_vapour_g_m3,
            ach,
            dt_h,
        )
        # Beyond saturation the surplus condenses on cold surfaces.
        self.vapour_g_m3 = min(self.vapour_g_m3, saturation_vapour_g_m3(self.temperature_c))
        return self._read_sensors()

    def _update_occupants(self, when: datetime, dt_s: float) -> None:
        if self.fixed_occupants is not None:
            self.occupants = self.fixed_occupants
            return
        gap = self.schedule.target_occupants(when) - self.occupants
        if gap:
            # Each missing (or leaving) person moves this step with the same probability.
            chance = 1.0 - math.exp(-dt_s / self.schedule.arrival_time_constant_s)
            moved = sum(1 for _ in range(abs(gap)) if self._rng.random() < chance)
            self.occupants += moved if gap > 0 else -moved

    def _activity_emissions_ug_per_h(
        self, start: datetime, end: datetime, dt_s: float
    ) -> tuple[float, float]:
        """PM2.5 and TVOC emission rates averaged over the step (so no event is missed by big steps)."""
        if not self.random_events:
            return 0.0, 0.0
        pm25 = tvoc = 0.0
        for activity in self.schedule.activities(start, end):
            if dt_s > 0:
                overlap_s = (min(end, activity.end) - max(start, activity.start)).total_seconds()
                weight = max(0.0, overlap_s) / dt_s
            else:
                weight = 1.0
            pm25 += activity.pm25_ug_per_h * weight
            tvoc += activity.tvoc_ug_per_h * weight
        return pm25, tvoc

    def _step_temperature(self, when: datetime, dt_s: float, outdoor_c: float) -> None:
        tau_s = 2 * 3600.0
        decay = math.exp(-dt_s / tau_s)
        self._temperature_drift_c = self._temperature_drift_c * decay + 0.3 * math.sqrt(
            1 - decay * decay
        ) * self._rng.gauss(0.0, 1.0)
        setpoint = self.setpoint_c - (0.0 if self.schedule.hvac_on(when) else NIGHT_SETBACK_C)
        # People warm the room until the HVAC's extra removal balances their heat.
        people_gain_c = self.occupants * SENSIBLE_HEAT_W_PER_PERSON / (HVAC_W_PER_K_PER_M3 * self.volume_m3)
        target_c = setpoint + people_gain_c + self._temperature_drift_c
        # Infiltration and open windows pull towards outdoors; ventilation air is tempered.
        outdoor_rate = OUTDOOR_HEAT_COUPLING * (0.1 + (self.window_ach_per_h if self.window_open else 0.0))
        self.temperature_c = _integrate(
            self.temperature_c,
            HVAC_RATE_PER_H * target_c + outdoor_rate * outdoor_c,
            HVAC_RATE_PER_H + outdoor_rate,
            dt_s / 3600.0,
        )

    def _read_sensors(self) -> dict[str, float]:
        """Add sensor noise and round like the usual low-cost IAQ monitors do."""
        gauss = self._rng.gauss
        co2 = self.co2_ppm + gauss(0.0, 2.0 + 0.005 * self.co2_ppm)
        pm25 = self.pm25_ugm3 + gauss(0.0, 0.3 + 0.05 * self.pm25_ugm3)
        tvoc = self.tvoc_ugm3 + gauss(0.0, 2.0 + 0.03 * self.tvoc_ugm3)
        humidity = self.humidity_pct + gauss(0.0, 0.3)
        return {
            "co2": float(round(co2)),
            "pm25": round(max(0.0, pm25), 1),
            "tvoc": float(round(max(0.0, tvoc))),
            "temperature": round(self.temperature_c + gauss(0.0, 0.05), 1),
            "humidity": round(min(100.0, max(0.0, humidity)), 1),
        }
