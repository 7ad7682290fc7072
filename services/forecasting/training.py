"""Training one room metric: runs in a worker process (pure function of arrays, returns a picklable result).

The result holds, per horizon, the forecaster chosen on validation (see ``backtest``) within the first four
fifths of the history (fitted on what precedes its last validation fold, the fit that validation measured),
and the backtest that decides promotion: the last fifth scored with that forecaster, with persistence, and
with the active model if any. The models' states still follow the newest
readings when they forecast; only their parameters come from the older part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backtest import Combined, Fitted, combine, fit_candidate, select, valid_origins
from .models import CANDIDATES, MassBalance, Persistence
from .series import Series, to_grid, ventilation_on_grid

HORIZONS_MIN = (5, 15, 30, 60)
PROMOTION_HORIZON_MIN = 30
HOLDOUT_FRAC = 0.8  # the first 80 % trains, the last 20 % decides promotion
MIN_HISTORY_S = 6 * 3600
MAX_HISTORY_S = 14 * 86400


@dataclass
class Bundle:
    """What is saved as a model's artifact and loaded by the predictor."""

    metric: str
    step_s: float
    tz: str
    forecasters: dict[int, Fitted | Combined]  # horizon in minutes -> forecaster
    kinds: dict[int, str] = field(default_factory=dict)

    def padded(self, series: Series) -> Series:
        """``series`` extended with empty points up to the longest horizon: predict() reads future grid times
        (daily terms); the modules stay as they are at the origin."""
        longest = max(series.steps(h) for h in self.forecasters)
        vent = series.ventilation
        if vent is not None and len(vent):
            vent = np.concatenate([vent, np.full(longest, vent[-1])])
        values = np.concatenate([series.values, np.full(longest, np.nan)])
        return Series(series.name, series.t0_s, series.step_s, values, series.tz, vent)

    def forecast(self, series: Series) -> list[dict[str, Any]]:
        """Forecasts from the last point of ``series`` (on this bundle's step) at every horizon."""
        origin = np.array([len(series) - 1])
        last = series.filled()[origin]
        out = []
        if not np.isfinite(last[0]):
            return out
        padded = self.padded(series)
        for horizon_min, forecaster in sorted(self.forecasters.items()):
            h = series.steps(horizon_min)
            try:
                value = float(forecaster.predict(padded, origin, h)[0])
            except Exception:  # a model that cannot forecast this history forecasts as persistence
                value = float(last[0])
            if not np.isfinite(value):
                value = float(last[0])
            low, high = forecaster.interval
            out.append(
                {
                    "horizon_min": horizon_min,
                    "target_s": series.t0_s + (len(series) - 1 + h) * series.step_s,
                    "value": value,
                    "low": value + min(low, 0.0),
                    "high": value + max(high, 0.0),
                    "model_type": self.kinds.get(horizon_min, getattr(forecaster, "name", "?")),
                }
            )
        return out


def ventilation_model(forecaster: Any) -> Any:
    """The mass balance that learnt two air-change rates, when the forecaster is one or combines one (and
    uses it: damping above 0), else None. Its forecast is the only one that changes with the ventilation."""
    members = getattr(forecaster, "members", None) or [forecaster]
    if getattr(forecaster, "shrink", 1.0) <= 0:
        return None
    for member in members:
        model = getattr(member, "model", None)
        if getattr(model, "rate_on", None) is not None and getattr(member, "shrink", 1.0) > 0:
            return model
    return None


def reads_ventilation(forecaster: Any) -> bool:
    """True when the forecaster's forecast changes with the ventilation state at the origin."""
    return ventilation_model(forecaster) is not None


def what_if_ventilated(
    bundle: Bundle, series: Series, forecasts: list[dict[str, Any]] | None = None
) -> dict[int, float]:
    """Forecasts per horizon (minutes) if the room's ventilation were switched fully on at the last point,
    for the horizons whose forecaster reads the ventilation; empty when none does, when nothing is known of
    the room's ventilation or when it is fully on already. `forecasts`: `bundle.forecast(series)`, when the
    caller has it already.

    The deployed forecast moved by the difference the room's mass balance makes between "as now" and "fan
    on": a combination dilutes the mass balance among models that know nothing of the fan (and damps it
    towards persistence), so its own forecast with the fan on would understate what switching on does.
    """
    vent = series.ventilation
    if vent is None or not len(vent) or vent[-1] >= 1.0:
        return {}
    models = {h: m for h, f in bundle.forecasters.items() if (m := ventilation_model(f)) is not None}
    if not models:
        return {}
    on = Series(series.name, series.t0_s, series.step_s, series.values, series.tz, vent.copy())
    on.ventilation[-1] = 1.0
    now_padded, on_padded = bundle.padded(series), bundle.padded(on)
    origin = np.array([len(series) - 1])
    out = {}
    for f in forecasts if forecasts is not None else bundle.forecast(series):
        model = models.get(f["horizon_min"])
        if model is None:
            continue
        h = series.steps(f["horizon_min"])
        change = float(model.predict(on_padded, origin, h)[0] - model.predict(now_padded, origin, h)[0])
        if np.isfinite(change):  # air from outside brings the level towards the outdoor one, not past it
            floor = min(f["value"], float(model.outdoor))
            out[f["horizon_min"]] = max(f["value"] + change, floor)
    return out


def persistence_bundle(metric: str, step_s: float = 60.0, tz: str = "UTC") -> Bundle:
    """The fallback: the last value, with no interval learnt."""
    fitted = Fitted(Persistence(), 0.0, float("nan"), float("nan"), (0.0, 0.0))
    return Bundle(
        metric, step_s, tz, dict.fromkeys(HORIZONS_MIN, fitted), dict.fromkeys(HORIZONS_MIN, "persistence")
    )


def choose(series: Series, train_end: int, h: int) -> tuple[str, Fitted | Combined, dict]:
    """The forecaster chosen on validation, its name, and every candidate fitted (by name)."""
    fitted: dict[str, Fitted | Combined] = {}
    for name in CANDIDATES:
        try:
            fitted[name] = fit_candidate(name, series, train_end, h)
        except Exception:
            continue
    if "persistence" not in fitted:
        raise ValueError("too little history to validate any model")
    combined = combine([f for f in fitted.values() if isinstance(f, Fitted)])
    if combined is not None:
        fitted["combined"] = combined
    name = select(fitted)
    return name, fitted[name], fitted


def holdout_mae(forecaster, series: Series, start: int, h: int) -> float:
    origins = valid_origins(series, start, len(series), h)
    if len(origins) == 0:
        return float("nan")
    return float(np.mean(np.abs(series.values[origins + h] - forecaster.predict(series, origins, h))))


def with_ventilation(series: Series, ventilation: list[tuple[float, float]] | None) -> Series:
    """``series`` with the room's ventilation level on its grid, from (epoch seconds, level) changes."""
    if ventilation:
        series.ventilation = ventilation_on_grid(series.t0_s, series.step_s, len(series), ventilation)
    return series


def span_text(seconds: float) -> str:
    """`6 h`, `2 h 10 min`, `45 min`, `none`: a span of history as a person says it."""
    minutes = int(seconds // 60)
    if minutes <= 0:
        return "none"
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def train(
    times_s: list[float],
    values: list[float],
    *,
    metric: str,
    tz: str,
    champion: Bundle | None = None,
    ventilation: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Fit a bundle on a room metric's history; returns it with its backtest and the promotion verdict.
    ``ventilation``: the room's ventilation level as (epoch seconds, level 0-1) at each change
    (``series.room_ventilation``), for the mass balance; None when the room has no such module."""
    series = to_grid(zip(times_s, values, strict=True), name=metric, metric=metric, tz=tz)
    has_s = 0 if series is None else len(series) * series.step_s
    if has_s < MIN_HISTORY_S:
        raise ValueError(
            f"needs {span_text(MIN_HISTORY_S)} of {metric} readings, has {span_text(has_s)}; train again "
            "once the room has reported that long (two days let the models learn its daily cycle)"
        )
    series = with_ventilation(series, ventilation)
    keep = int(MAX_HISTORY_S // series.step_s)
    if len(series) > keep:
        series = series.slice(len(series) - keep, len(series))
    h = series.steps(PROMOTION_HORIZON_MIN)
    split = int(len(series) * HOLDOUT_FRAC)
    # the forecasters deployed are those scored: chosen within the first 80 %, so the challenger and the
    # active version are compared on readings neither was fitted on (and unchanged data gives an exact tie)
    forecasters, kinds, room_air = {}, {}, {}
    for horizon in HORIZONS_MIN:
        kinds[horizon], forecasters[horizon], fitted = choose(series, split, series.steps(horizon))
        balance = fitted.get("mass_balance")
        if horizon == PROMOTION_HORIZON_MIN and isinstance(balance, Fitted):
            # what the room's mass balance learnt of its air change, chosen or not (the Models page shows it)
            room_air = balance.model.ventilation_params() if isinstance(balance.model, MassBalance) else {}
    challenger = forecasters[PROMOTION_HORIZON_MIN]
    scores = {
        "mae": holdout_mae(challenger, series, split, h),
        "persistence_mae": holdout_mae(Persistence(), series, split, h),
    }
    if champion is not None and champion.step_s == series.step_s:
        forecaster = champion.forecasters.get(PROMOTION_HORIZON_MIN)
        scores["champion_mae"] = holdout_mae(forecaster, series, split, h) if forecaster else float("nan")
    scores["mae_ratio"] = scores["mae"] / scores["persistence_mae"] if scores["persistence_mae"] else 1.0
    beats_persistence = scores["mae"] < scores["persistence_mae"]
    beats_champion = (
        not np.isfinite(scores.get("champion_mae", np.nan)) or scores["mae"] < scores["champion_mae"]
    )
    bundle = Bundle(metric, series.step_s, tz, forecasters, kinds)
    return {
        "bundle": bundle,
        "model_type": kinds[PROMOTION_HORIZON_MIN],
        "metrics": {k: round(float(v), 4) for k, v in scores.items() if np.isfinite(v)}
        | {"horizon_min": PROMOTION_HORIZON_MIN, "holdout_points": int(len(series) - split)},
        "promote": bool(beats_persistence and beats_champion),
        "data_points": int(np.isfinite(series.values).sum()),
        "start_s": series.t0_s,
        "end_s": series.t0_s + (split - 1) * series.step_s,  # the fitted part; the rest is the holdout
        "parameters": {"step_s": series.step_s, "horizons_min": list(HORIZONS_MIN), "kinds": kinds}
        | ({"ventilation": room_air} if room_air else {}),
    }
