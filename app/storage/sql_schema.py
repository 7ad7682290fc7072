"""Tables of the SQL time-series adapter (SQLite by default, PostgreSQL through the same models).

`readings` is clustered by room and time (the dashboard's and the API's main access path) and has a
unique (sensor, time) key, which is how a repeated reading is recognised. The five core metrics have
columns; any other metric goes into the JSON column `extra`.
`latest_values` keeps the newest value of every metric of every room, so tiles need no scan.
`iaq_scores` is the series of room scores (`app.domain.score`), at most one row per room and minute.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Index, Integer, String, Table

from app.db.models import Base
from app.domain.metrics import CORE_METRICS

readings = Table(
    "readings",
    Base.metadata,
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("sensor_pk", Integer, ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True),
    *(Column(name, Float) for name in CORE_METRICS),
    Column("extra", JSON(none_as_null=True)),  # SQL NULL, not the text "null", when a reading has none
    Index("ux_readings_sensor_ts", "sensor_pk", "ts_ms", unique=True),
    sqlite_with_rowid=False,
)

latest_values = Table(
    "latest_values",
    Base.metadata,
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("sensor_pk", Integer, ForeignKey("sensors.id", ondelete="CASCADE"), nullable=False),
)

iaq_scores = Table(
    "iaq_scores",
    Base.metadata,
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),  # time of the newest reading the score was computed from
    Column("score", Float, nullable=False),
    Column("level", String(16), nullable=False),
    Column("driver", String(64), nullable=False),  # the metric with the lowest sub-score
)
