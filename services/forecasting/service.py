"""Trainer, predictor and preventive actions: the forecasting use cases of the running platform.

- Trainer (`train_room`, `train_all`; scheduled every `ML_TRAINER_INTERVAL`): reads a room metric's
  history (one-minute means), fits in a worker process, saves the artifact, registers every run, and
  activates the new version only if it beats persistence and the active version on the backtest.
- Predictor (`predict_all`; every `ML_PREDICTOR_INTERVAL`): loads each active model (again when the registry
  changes), forecasts 5 to 60 minutes ahead with an 80 % interval, stores the forecasts in `iaq_forecast`,
  publishes `prediction` messages on `bus.predictions`, and a `threshold_crossing` on
  `bus.forecast_crossings` for each forecast that crosses a preventive threshold (the event automation
  consumes, see `docs/forecasting.md`).
  A missing or corrupt artifact falls back to persistence and is reported (`problems`), never raised.
"""

from __future__ import annotations

from .base import model_name
from .predictor import Predictor
from .reads import ForecastReads
from .trainer import Trainer

__all__ = ["ForecastService", "model_name"]


class ForecastService(ForecastReads, Predictor, Trainer):
    """Forecasting as the platform uses it: trainer, predictor and reads over one room history."""
