"""Site configuration: sites (`enseigne`), rooms (`salle`), sensors; import and export as JSON.

Every change runs in one transaction; after it, ingestion reloads its copy of the registry and
`bus.config_changed` tells open pages to refresh.
"""

from __future__ import annotations

from .crud import room_dict, site_dict
from .transfer import ConfigTransfer

__all__ = ["ConfigService", "room_dict", "site_dict"]


class ConfigService(ConfigTransfer):
    """The registry's configuration: sites, rooms, sensors and geometry (`crud.py`), and the configuration
    file (`transfer.py`)."""
