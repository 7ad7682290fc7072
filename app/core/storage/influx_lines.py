"""InfluxDB's line protocol for readings: the schema's measurement and tags, each series' escaped prefix
computed once, field keys and values."""

from __future__ import annotations

import math

MEASUREMENT = "iaq_raw"
TAGS = ("sensor_id", "enseigne", "salle", "room_id")


class LineEncoder:
    """Line protocol through influxdb-client's `Point`, at ingestion speed: `Point` writes each series key
    (measurement and escaped tags) and each field key once, then values are formatted as `Point` formats
    floats (a whole number without ".0"; never an integer, which would fix the field's type in InfluxDB)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, int], str] = {}
        self._keys: dict[str, str] = {}

    @staticmethod
    def _point():
        from influxdb_client import Point, WritePrecision  # only an InfluxDB deployment pays for importing it

        return Point, WritePrecision

    def series(self, sensor_id: str, site: str, room: str, room_id: int) -> str:
        key = (sensor_id, site, room, room_id)
        prefix = self._series.get(key)
        if prefix is None:
            point_cls, precision = self._point()
            point = (
                point_cls(MEASUREMENT).tag("sensor_id", sensor_id).tag("enseigne", site).tag("salle", room)
            )
            point.tag("room_id", str(room_id)).field("v", 1.0).time(1, precision.MS)
            prefix = self._series[key] = point.to_line_protocol().removesuffix(" v=1 1")
        return prefix

    def field_key(self, name: str) -> str:
        key = self._keys.get(name)
        if key is None:
            point_cls, precision = self._point()
            line = point_cls("m").field(name, 1.0).time(1, precision.MS).to_line_protocol()
            key = self._keys[name] = line.removeprefix("m ").removesuffix("=1 1")
        return key

    def line(self, prefix: str, values: dict[str, float], ts_ms: int) -> str:
        fields = []
        for name in sorted(values):
            value = float(values[name])
            if not math.isfinite(value):
                continue
            text = str(value)
            fields.append(f"{self.field_key(name)}={text[:-2] if text.endswith('.0') else text}")
        return f"{prefix} {','.join(fields)} {ts_ms}"
