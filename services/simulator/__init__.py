"""Simulated and replayed sensors that feed the platform like real ones.

- :class:`RoomModel`: physics of one room (pure, stepped with explicit times).
- :class:`DemoSimulator`: the demo sites' rooms, streamed live and backfilled.
- :func:`replay`: real data set rows sent as a live stream.
- ``python -m services.simulator``: the same, posting to a running platform over HTTP.
"""

from services.simulator.demo import DEMO_SITES, DemoSimulator, RoomSpec, SimulatedRoom, SiteSpec, demo_sites
from services.simulator.replay import merge_rows, replay
from services.simulator.room_model import RoomModel

__all__ = [
    "DEMO_SITES",
    "DemoSimulator",
    "RoomModel",
    "RoomSpec",
    "SimulatedRoom",
    "SiteSpec",
    "demo_sites",
    "merge_rows",
    "replay",
]
