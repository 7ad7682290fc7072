"""Forecasting candidates. Each learns from the start of a series and forecasts ``values[o + h]`` from
``values[: o + 1]`` for many origins ``o`` at once (vectorised over origins).

- ``persistence``: the last value. The baseline and the fallback.
- ``holt_damped``: exponential smoothing with a damped trend (statsmodels fits the smoothing weights).
- ``sarimax``: ARIMA(2,1,0) with a daily cycle as Fourier regressors (statsmodels SARIMAX); a seasonal
  ARIMA with a 1440-step season is not fittable at one-minute steps, the Fourier terms are its cheap form.
- ``gbm``: scikit-learn gradient boosting on lagged differences, predicting the change over the horizon.
- ``mass_balance``: our own model of CO2 in a ventilated room (see ``MassBalance``).

statsmodels and scikit-learn are imported inside ``fit`` only: importing them costs one to two seconds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from .series import Series


def local_hours(times_s: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day (float) and a weekend flag for epoch seconds, in zone ``tz``."""
    zone = ZoneInfo(tz)
    days = (np.asarray(times_s) // 86400) * 86400
    offsets = {
        d: datetime.fromtimestamp(d + 43200, UTC).astimezone(zone).utcoffset().total_seconds()
        for d in np.unique(days).tolist()
    }
    local = times_s + np.array([offsets[d] for d in days.tolist()]) if len(days) else times_s
    hours = (local % 86400) / 3600.0
    weekday = ((local // 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    return hours, weekday >= 5


def _times(series: Series, index: np.ndarray) -> np.ndarray:
    return series.t0_s + series.step_s * np.asarray(index, dtype=float)


MIN_DAILY_HISTORY_S = 2 * 86400  # a daily cycle cannot be learnt from less than two days


def require_days(series: Series, end: int, name: str) -> None:
    if end * series.step_s < MIN_DAILY_HISTORY_S:
        raise ValueError(f"{name} learns a daily cycle: it needs two days of history")


class Forecaster:
    """Base: ``fit(series, end, h)`` learns from ``values[:end]`` for horizon ``h`` steps."""

    name = "base"

    def fit(self, series: Series, end: int, h: int) -> Forecaster:
        return self

    def predict(self, series: Series, origins: np.ndarray, h: int) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict:
        return {}


class Persistence(Forecaster):
    name = "persistence"

    def predict(self, series: Series, origins: np.ndarray, h: int) -> np.ndarray:
        return series.filled()[origins]


class HoltDamped(Forecaster):
    """Level and damped trend; the weights are fitted by statsmodels, the recursion is run here once per
    series so that every origin's state is known without refitting."""

    name = "holt_damped"
    MAX_FIT_POINTS = 8000

    def fit(self, series: Series, end: int, h: int) -> HoltDamped:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        y = series.filled()[:end]
        y = y[np.isfinite(y)][-self.MAX_FIT_POINTS :]
        fitted = ExponentialSmoothing(
            y, trend="add", damped_trend=True, initialization_method="estimated"
        ).fit()
        p = fitted.params
        self.alpha = float(p["smoothing_level"])
        self.beta = float(p["smoothing_trend"])
        self.phi = float(p["damping_trend"])
        return self

    def predict(self, series: Series, origins: np.ndarray, h: int) -> np.ndarray:
        y = series.filled()
        level = np.full(len(y), np.nan)
        trend = np.zeros(len(y))
        a, b, phi = self.alpha, self.beta, self.phi
        lv = tr = math.nan
        for i, v in enumerate(y.tolist()):
            if math.isnan(lv):
                if not math.isnan(v):
                    lv, tr = v, 0.0
            elif math.isnan(v):
                lv, tr = lv + phi * tr, phi * tr
            else:
                prev = lv
                lv = a * v + (1 - a) * (lv + phi * tr)
                tr = b * (lv - prev) + (1 - b) * phi * tr
            level[i], trend[i] = lv, tr
        damp = sum(phi**k for k in range(1, h + 1))
        return level[origins] + damp * trend[origins]

    def params(self) -> dict:
        return {"alpha": self.alpha, "beta": self.beta, "phi": self.phi}


def fourier(times_s: np.ndarray, tz: str, harmonics: int = 2) -> np.ndarray:
    hours, _ = local_hours(times_s, tz)
    angle = 2 * np.pi * hours / 24.0
    cols = [f(k * angle) for k in range(1, harmonics + 1) for f in (np.sin, np.cos)]
    return np.column_stack(cols)


class Sarimax(Forecaster):
    """y = X(t)·β + u, u ~ ARIMA(2,1,0), X the daily Fourier terms in the room's local time."""

    name = "sarimax"
    MAX_FIT_POINTS = 6000

    def fit(self, series: Series, end: int, h: int) -> Sarimax:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        require_days(series, end, self.name)
        y = series.filled()[:end]
        idx = np.flatnonzero(np.isfinite(y))[-self.MAX_FIT_POINTS :]
        exog = fourier(_times(series, idx), series.tz)
        model = SARIMAX(y[idx], exog=exog, order=(2, 1, 0), trend="n")
        result = model.fit(disp=False, maxiter=50)
        params = dict(zip(model.param_names, np.asarray(result.params).tolist(), strict=True))
        self.beta = np.array([params[f"x{k}"] for k in range(1, exog.shape[1] + 1)])
        self.ar = np.array([params["ar.L1"], params["ar.L2"]])
        return self

    def predict(self, series: Series, origins: np.ndarray, h: int) -> np.ndarray:
        y = series.filled()
        n = len(y)
        u = y - fourier(_times(series, np.arange(n)), series.tz) @ self.beta
        du = np.diff(u, prepend=np.nan)
        d1 = du[origins]
        d2 = du[np.maximum(origins - 1, 0)]
        total = np.zeros(len(origins))
        for _ in range(h):
            nxt = self.ar[0] * d1 + self.ar[1] * d2
            total += nxt
            d1, d2 = nxt, d1
        future = fourier(_times(series, origins + h), series.tz) @ self.beta
        return u[origins] + total + future

    def params(self) -> dict:
        return {"beta": self.beta.tolist(), "ar": self.ar.tolist()}


def _lag_steps(series: Series) -> list[int]:
    return sorted({series.steps(m) for m in (1, 5, 10, 15, 30, 60)})


class GradientBoosting(Forecaster):
    """Predicts the change over the horizon from recent changes, the level above the room's baseline and
    the local time; never the absolute level (a week of data holds regime changes)."""

    name = "gbm"
    MAX_ROWS = 8000

    def _features(self, series: Series, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        cols = []
        for k in self.lags:
            past = np.where(origins - k >= 0, y[np.maximum(origins - k, 0)], np.nan)
            cols.append(y[origins] - past)
        cols.append(y[origins] - self.baseline)
        hours, weekend = local_hours(_times(series, origins), series.tz)
        cols += [np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24), weekend.astype(float)]
        return np.column_stack(cols)

    def fit(self, series: Series, end: int, h: int) -> GradientBoosting:
        from sklearn.ensemble import HistGradientBoostingRegressor

        require_days(series, end, self.name)
        y = series.filled()
        self.lags = _lag_steps(series)
        self.baseline = float(np.nanpercentile(y[:end], 2))
        origins = np.arange(0, max(0, end - h))
        target = series.values[origins + h] - y[origins] if len(origins) else np.array([])
        keep = np.isfinite(target) & np.isfinite(y[origins]) if len(origins) else np.array([], bool)
        origins, target = origins[keep], target[keep]
        if len(origins) > self.MAX_ROWS:
            pick = np.linspace(0, len(origins) - 1, self.MAX_ROWS).astype(int)
            origins, target = origins[pick], target[pick]
        self.model = HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=100,
            learning_rate=0.06,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=0,
        )
        if len(origins) < 50:
            raise ValueError("too little history to train gradient boosting")
        self.model.fit(self._features(series, y, origins), target)
        return self

    def predict(self, series: Series, origins: np.ndarray, h: int) -> np.ndarray:
        y = series.filled()
        return y[origins] + self.model.predict(self._features(series, y, origins))

    def params(self) -> dict:
        return {"lags_steps": self.lags, "baseline": self.baseline}


class MassBalance(Forecaster):
    """CO2 of a ventilated room: dC/dt = -a (C - C_out) + g(t).

    ``C_out`` is the outdoor (or baseline) level, taken as a low percentile of the history, so a sensor with
    a calibration offset keeps its own baseline; ``a`` is the air-change rate per step and ``g`` the
    occupants' source term. Both are fitted by least squares on ten-minute changes, with ``g`` a profile of
    half-hour slots of the local day, weekdays and weekends apart (the room's occupancy pattern). At the
    forecast origin the source is measured from the last ten minutes (people present now), and its
    departure from the profile fades with a time constant chosen on the end of the training span, so the
    forecast relaxes from "as now" towards "as usual at this time".

    Module states: when the series carries the room's ventilation level v (0 to 1, from its modules' state
    history) and the fitted span holds at least ``MIN_STATE_S`` with the room ventilated and as much without,
    the air-change rate is ``a_off (1 - v) + a_on v``, both fitted (non-negative) in the same least squares.
    The forecast holds the state at the origin over the horizon (the module stays as it is now), so a
    forecast made on a series whose last point says "on" is the what-if of switching the ventilation on.
    Without ventilation data, or with too little of either state, it is the single-rate model.
    """

    name = "mass_balance"
    SLOTS_PER_DAY = 48
    TAUS_MIN = (5.0, 15.0, 30.0, 60.0, 120.0, 1e9)
    WINDOWS_MIN = (10.0, 30.0)
    MIN_STATE_S = 2 * 3600.0  # of each ventilation state within the fitted span, to learn two rates
    rate_on: float | None = None  # per step, when two rates were learnt (class default: older artifacts)

    @staticmethod
    def _ventilation(series: Series) -> np.ndarray | None:
        """The series' ventilation level per grid point (held beyond its end, unknown as 0), or None."""
        v = series.ventilation
        if v is None or len(v) == 0:
            return None
        v = np.nan_to_num(np.asarray(v, dtype=float)[: len(series)], nan=0.0)
        if len(v) < len(series):
            v = np.concatenate([v, np.full(len(series) - len(v), v[-1])])
        return v

    def _rate(self, level: np.ndarray | float) -> np.ndarray | float:
        """Air changes per step at ventilation level(s) ``level``."""
        if self.rate_on is None:
            return self.rate
        return self.rate + (self.rate_on - self.rate) * level

    def _slots(self, series: Series, index: np.ndarray) -> np.ndarray:
        hours, weekend = local_hours(_times(series, index), series.tz)
        slot = np.minimum((hours * self.SLOTS_PER_DAY / 24).astype(int), self.SLOTS_PER_DAY - 1)
        return slot + self.SLOTS_PER_DAY * weekend.astype(int)

    def _fit_balance(self, series: Series, end: int) -> None:
        y = series.filled()[:end]
        self.outdoor = float(np.nanpercentile(y, 2))
        k = series.steps(10)
        self.window = k
        x = y - self.outdoor
        t = np.arange(0, max(0, end - k))
        d = (y[t + k] - y[t]) / k
        xm = (x[t] + x[t + k]) / 2
        ok = np.isfinite(d) & np.isfinite(xm)
        t, d, xm = t[ok], d[ok], xm[ok]
        self.step_s = series.step_s
        self.rate_on = None
        vm = None
        v = self._ventilation(series)
        if v is not None and len(t):
            # the mean ventilation level over each ten-minute change
            cumulative = np.concatenate([[0.0], np.cumsum(v)])
            vm = (cumulative[t + k] - cumulative[t]) / k
            on_s = float(np.sum(vm >= 0.5)) * series.step_s
            off_s = float(np.sum(vm < 0.5)) * series.step_s
            if min(on_s, off_s) < self.MIN_STATE_S:
                vm = None  # one state only (or hardly any of the other): nothing to tell the rates apart
        rates = 1 if vm is None else 2
        nslots = 2 * self.SLOTS_PER_DAY
        slots = self._slots(series, t + k // 2)
        design = np.zeros((len(t), nslots + rates))
        if vm is None:
            design[:, 0] = -xm
        else:
            design[:, 0] = -xm * (1 - vm)
            design[:, 1] = -xm * vm
        design[np.arange(len(t)), rates + slots] = 1.0
        counts = np.bincount(slots, minlength=nslots)
        used = np.concatenate([[True] * rates, counts > 0])
        coef = np.zeros(nslots + rates)
        if len(t) > nslots:
            # sources and the air-change rate are not negative: without that constraint a negative night
            # "source" would stand in for the decay, and the rate would come out near zero
            from scipy.optimize import nnls

            rows = np.linspace(0, len(t) - 1, min(len(t), 20000)).astype(int)
            coef[used] = nnls(design[rows][:, used], d[rows], maxiter=2000)[0]
        self.rate = float(np.clip(coef[0], 1e-5, 0.3))
        if vm is not None:
            self.rate_on = float(np.clip(coef[1], 1e-5, 0.3))
        profile = coef[rates:]
        if (~(counts > 0)).any():
            profile[counts == 0] = np.median(profile[counts > 0]) if (counts > 0).any() else 0.0
        self.profile = profile

    def fit(self, series: Series, end: int, h: int) -> MassBalance:
        # choose the fading time and the window that measures the current source on the last quarter of
        # the span, then fit the balance on all of it
        split = int(end * 0.75)
        self.tau_min, self.source_window = 60.0, series.steps(10)
        if split > 10 * h:
            self._fit_balance(series, split)
            origins = np.arange(split, end - h)
            origins = origins[np.isfinite(series.values[origins]) & np.isfinite(series.values[origins + h])]
            if len(origins) > 20:
                actual = series.values[origins + h]
                errors = {}
                for window in sorted({series.steps(m) for m in self.WINDOWS_MIN}):
                    for tau in self.TAUS_MIN:
                        self.tau_min, self.source_window = tau, window
                        pred = self.predict(series, origins, h)
                        pred = np.where(np.isfinite(pred), pred, series.filled()[origins])
                        errors[(tau, window)] = float(np.mean(np.abs(pred - actual)))
                self.tau_min, self.source_window = min(errors, key=errors.get)
        self._fit_balance(series, end)
        return self

    def predict(self, series: Series, origins: np.ndarray, h: int) -> np.ndarray:
        y = series.filled()
        x = y - self.outdoor
        k = self.source_window
        back = np.maximum(origins - k, 0)
        v = self._ventilation(series) if self.rate_on is not None else None
        if v is None:
            rate_before = rate_now = self.rate
        else:
            cumulative = np.concatenate([[0.0], np.cumsum(v)])
            span = np.maximum(origins - back, 1)
            rate_before = self._rate((cumulative[origins] - cumulative[back]) / span)
            rate_now = self._rate(v[origins])  # the state at the origin holds over the horizon
        source_now = (x[origins] - x[back]) / k + rate_before * (x[origins] + x[back]) / 2
        deviation = source_now - self.profile[self._slots(series, origins)]
        level = x[origins].copy()
        fade = math.exp(-series.step_s / (self.tau_min * 60.0))
        weight = 1.0
        for i in range(1, h + 1):
            weight *= fade
            source = self.profile[self._slots(series, origins + i)] + deviation * weight
            level = level - rate_now * level + source
        return level + self.outdoor

    def params(self) -> dict:
        return {
            "outdoor": self.outdoor,
            "rate_per_step": self.rate,
            "tau_min": self.tau_min,
            "source_window_steps": self.source_window,
        } | self.ventilation_params()

    def ventilation_params(self) -> dict:
        """The air-change rates per hour learnt with the room ventilated and not (when module states were
        known for enough of both), else an empty dict."""
        if self.rate_on is None:
            return {}
        per_h = 3600.0 / self.step_s
        return {
            "rate_off_per_h": round(self.rate * per_h, 4),
            "rate_on_per_h": round(self.rate_on * per_h, 4),
        }


CANDIDATES: dict[str, type[Forecaster]] = {
    cls.name: cls for cls in (Persistence, HoltDamped, Sarimax, GradientBoosting, MassBalance)
}
