"""Registry database: SQLAlchemy models and engine/session handling."""

from .models import Base, Room, Sensor, Site

__all__ = ["Base", "Room", "Sensor", "Site"]
