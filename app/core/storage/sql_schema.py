"""Tables of the SQL time-series adapter (SQLite by default, PostgreSQL through the same models).

`readings` is clustered by room and time (the dashboard's and the API's main access path) and has a
unique (sensor, time) key, which is how a repeated reading is recognised. The five core metrics have
columns; any other metric goes into the JSON column `extra`.
`latest_values` keeps the newest value of every metric of every room, so tiles need no scan.
`iaq_scores` is the series of room scores (`app.core.domain.score`), at most one row per room and minute.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table

from app.core.db.models import Base
from app.core.domain.metrics import CORE_METRICS

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

# -- alerts (`app.core.domain.alerts`, `services/alerting/`) ----------------------------------------------
# A rule's scope: no site and no room = global; `site_id` = the site's rooms; `room_id` = one room.
alert_rules = Table(
    "alert_rules",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("description", String(512)),
    Column("metric", String(64), nullable=False),  # a metric, or "offline" (a sensor gone silent)
    Column("direction", String(8), nullable=False),  # above, below
    Column("trigger", Float, nullable=False),  # offline rules: the factor on the expected interval
    Column("reset", Float, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("cooldown_s", Float, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), index=True),
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), index=True),
    Column("only_open_hours", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# One row per alert, from raise to resolve. `raised_ms` and an automatic `resolved_ms` are reading times
# (the readings that crossed the thresholds); acknowledging and manual resolving are wall-clock times.
alerts = Table(
    "alerts",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("rule_id", Integer, ForeignKey("alert_rules.id", ondelete="SET NULL"), index=True),
    Column("rule_name", String(128), nullable=False),  # kept when the rule is renamed or deleted
    Column("metric", String(64), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("reset", Float, nullable=False),
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("sensor_id", String(128)),  # offline alerts: the silent sensor
    Column("state", String(16), nullable=False, index=True),  # active, acknowledged, resolved
    Column("value", Float),  # the value that raised it
    Column("peak", Float),  # the worst value while it was open
    Column("raised_ms", BigInteger, nullable=False, index=True),
    Column("acknowledged_ms", BigInteger),
    Column("acknowledged_by", String(128)),
    Column("ack_comment", String(1000)),
    Column("resolved_ms", BigInteger),
    Column("resolved_by", String(128)),  # None: resolved by itself when the condition cleared
    Column("resolved_value", Float),
    Column("updated_ms", BigInteger, nullable=False),
    Column("snoozed_until_ms", BigInteger),  # put aside by someone until then (still open)
)

# What happened to each alert, in order: raised, acknowledged, resolved (by whom, when, with which comment).
alert_events = Table(
    "alert_events",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("by", String(128)),
    Column("comment", String(1000)),
    Column("value", Float),
)

# Every delivery attempt of a notification (webhook, e-mail), failed ones included.
notifications = Table(
    "notifications",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("event", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(512), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", String(500)),
    Column("ts_ms", BigInteger, nullable=False),
)

# -- the durable outbox in front of InfluxDB (`app/core/storage/influx.py`) ----------------------------------
# With InfluxDB as the store, the ingest transaction commits readings here; the drainer sends them in batches
# and deletes only what InfluxDB confirmed. `line` is the reading in line protocol, tags frozen at ingestion;
# `payload` its values as JSON, so that reads can show readings that have not reached InfluxDB yet.
influx_outbox = Table(
    "influx_outbox",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sensor_pk", Integer, nullable=False),
    Column("room_id", Integer, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("payload", String, nullable=False),
    Column("line", String, nullable=False),
    Column("error", String(512)),  # InfluxDB refused this point for good (a 400): kept, not retried
    Index("ux_influx_outbox_sensor_ts", "sensor_pk", "ts_ms", unique=True),
    Index("ix_influx_outbox_room_ts", "room_id", "ts_ms"),
)

# The (sensor, time) of readings InfluxDB confirmed, kept for IAQ_DUPLICATE_WINDOW hours of reading time:
# a reading sent again within that window is known as a duplicate without asking InfluxDB, even while it is
# down.
influx_sent_keys = Table(
    "influx_sent_keys",
    Base.metadata,
    Column("sensor_pk", Integer, primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("room_id", Integer, nullable=False),
    Index("ix_influx_sent_keys_ts", "ts_ms"),
    sqlite_with_rowid=False,
)

# The seed's other series (`iaq_scores`, `iaq_forecast`, `iaq_actions`) on their way to InfluxDB,
# as ready line-protocol lines, committed with (or right after) their SQL rows; drained like `influx_outbox`.
# `room_id` lets a deleted room's waiting points go with it.
influx_series_outbox = Table(
    "influx_series_outbox",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("room_id", Integer, index=True),
    Column("line", String, nullable=False),
    Column("error", String(512)),  # InfluxDB refused this point for good (a 400): kept, not retried
)

# -- rollups (`app/core/storage/rollups.py`, `services/rollups.py`), for every time-series store ------------
# One row per room, step (300 s or 3600 s) and step-aligned bucket; `stats` holds per metric
# [sum, min, max, count] (sums merge into coarser buckets, means would not). Kept far longer than raw.
rollups = Table(
    "rollups",
    Base.metadata,
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    Column("step_s", Integer, primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("stats", JSON, nullable=False),
    sqlite_with_rowid=False,
)

# -- forecasts (`services/forecasting`): what the predictor said, to compare with what came ----------------
iaq_forecast = Table(
    "iaq_forecast",
    Base.metadata,
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("issued_ms", BigInteger, primary_key=True),  # time of the newest reading the forecast used
    Column("horizon_min", Integer, primary_key=True),
    Column("target_ms", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),  # 80 % prediction interval
    Column("high", Float, nullable=False),
    Column("model_id", Integer, ForeignKey("ml_models.id", ondelete="SET NULL")),
    Column("model_type", String(64), nullable=False),
    # the forecast if the room's ventilation were switched on at issue time (mass balance with two rates)
    Column("if_ventilated", Float),
)
