"""Preventive actions: a forecast that crosses a threshold becomes an action to take before it happens.

`crossing(message)` turns a `prediction` message into a `threshold_crossing` event (or None). The
predictor publishes these on `bus.forecast_crossings`; the automation of the modules capability consumes them:

    {"type": "threshold_crossing", "enseigne": ..., "salle": ..., "room_id": 3, "metric": "co2",
     "threshold": 1000.0, "current": 820.0, "expected_at": "...Z", "within_min": 15,
     "forecast": 1040.0, "confidence": 0.9,
     "action": {"module_type": "ventilation", "action_type": "turn_on", "priority": "high", ...}}

When the forecast message carries `if_ventilated` at the crossing horizon (the room's mass balance learnt its
air-change rate with the ventilation on, see `MassBalance`), the action states `expected_if_taken`: the
forecast at that horizon with the ventilation switched on now.
"""

from __future__ import annotations

from typing import Any

# metric -> (threshold, module type, action); CO2 1000 ppm: the usual ventilation target (EN 16798-1 cat. II
# is 800 ppm above outdoor); PM2.5 25 µg/m³: WHO's 24-hour level 15 is a mean, 25 is a peak worth acting on.
PREVENTIVE_THRESHOLDS: dict[str, tuple[float, str, str]] = {
    "co2": (1000.0, "ventilation", "turn_on"),
    "pm25": (25.0, "air_purifier", "turn_on"),
    "tvoc": (1000.0, "ventilation", "turn_on"),
}


def crossing(message: dict[str, Any], thresholds=PREVENTIVE_THRESHOLDS) -> dict[str, Any] | None:
    """The first horizon whose forecast is above the metric's threshold while the room is still below it.

    Confidence: 0.9 when the interval's lower bound is above the threshold too, 0.6 when only the forecast
    is, and the crossing is reported only from the forecast itself (the upper bound alone is not enough)."""
    rule = thresholds.get(message.get("metric"))
    current = message.get("current")
    if rule is None or current is None:
        return None
    threshold, module_type, action_type = rule
    if current >= threshold:
        return None  # already above: that is the alerting's job, not a preventive action
    for f in sorted(message.get("forecasts", []), key=lambda f: f["horizon_min"]):
        if f["value"] > threshold:
            confidence = 0.9 if f["low"] > threshold else 0.6
            action = {
                "module_type": module_type,
                "action_type": action_type,
                "priority": "high" if f["horizon_min"] <= 15 else "medium",
                "metric": message["metric"],
                "threshold": threshold,
                "expected_at": f["timestamp"],
                "within_min": f["horizon_min"],
                "forecast": round(float(f["value"]), 2),
                "confidence": confidence,
                "reason": {
                    "pollutant": message["metric"].upper()
                    if message["metric"] == "co2"
                    else message["metric"],
                    "value": round(float(f["value"]), 2),
                    "level": "forecast",
                },
            }
            if module_type == "ventilation" and f.get("if_ventilated") is not None:
                # the room's mass balance, with the ventilation on from now: what the action should achieve
                action["expected_if_taken"] = round(float(f["if_ventilated"]), 2)
            return {
                "type": "threshold_crossing",
                "enseigne": message.get("enseigne"),
                "salle": message.get("salle"),
                "room_id": message.get("room_id"),
                "metric": message["metric"],
                "threshold": threshold,
                "current": current,
                "expected_at": f["timestamp"],
                "within_min": f["horizon_min"],
                "forecast": action["forecast"],
                "confidence": confidence,
                "action": action,
            }
    return None
