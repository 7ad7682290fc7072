"""Modules and their actions: the registry of each room's actuators, commands with acknowledged states, and
the record of every action. See `core.py`."""

from .core import ActionSink, iaq_actions_point
from .history import ModuleService

__all__ = ["ActionSink", "ModuleService", "iaq_actions_point"]
