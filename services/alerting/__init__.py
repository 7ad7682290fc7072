"""Alerting: rules applied to readings as they are committed, sensors watched for silence, the alerts'
lifecycle (raised → acknowledged → resolved, with history) and their rules. `engine.py` holds the state and
the worker, `lifecycle.py` the operators' actions, `rules.py` the rules; `AlertingService` is all three."""

from .rules import AlertingService

__all__ = ["AlertingService"]
