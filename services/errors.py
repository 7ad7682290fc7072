"""Errors that services raise and the API turns into HTTP answers."""

from __future__ import annotations

from app.core.domain.readings import FieldError, InvalidInput

__all__ = ["Conflict", "FieldError", "InvalidInput", "NotFound"]


class NotFound(LookupError):
    """404: the named thing does not exist."""


class Conflict(RuntimeError):
    """409: the request contradicts the current state (a name in use, a site that still has rooms)."""
