"""Registry tables: sites (`enseigne`), rooms (`salle`) and sensors.

Time series live in `app.storage`; their SQL tables share this metadata so that one set of Alembic
migrations covers the whole database, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Site(Base):
    """A site (`enseigne` in the API): a building or a shop, with its own time zone and opening hours."""

    __tablename__ = "sites"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids are never reused (migration 0013)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    address: Mapped[str | None] = mapped_column(String(256))
    # {"mon": [["08:00", "18:00"]], ..., "sun": []}; None means always open
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    external_id: Mapped[str | None] = mapped_column(String(128))
    # overrides of the IAQ score's thresholds for the site's rooms (app.domain.score.Thresholds.merged)
    score_thresholds: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    rooms: Mapped[list[Room]] = relationship(
        back_populates="site", cascade="all, delete-orphan", passive_deletes=True, order_by="Room.name"
    )


class Room(Base):
    """A room (`salle`) of a site. Its time zone is the site's unless set."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("site_id", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(128))
    score_thresholds: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # over the site's, see Site
    # the digital twin's footprint, height, floor and sensor positions (app.domain.geometry); None: default
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    site: Mapped[Site] = relationship(back_populates="rooms")
    sensors: Mapped[list[Sensor]] = relationship(back_populates="room", passive_deletes=True)

    @property
    def effective_timezone(self) -> str:
        return self.timezone or self.site.timezone


class Sensor(Base):
    """A physical sensor, known by the id it sends (`sensor_id` / legacy `capteur_id`)."""

    __tablename__ = "sensors"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[str] = mapped_column(String(128), unique=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"), index=True)
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    room: Mapped[Room | None] = relationship(back_populates="sensors")


class Module(Base):
    """An actuator of a room (ventilation, purifier, window, cooling, heating), driven over MQTT or simulated.

    `state` is what the device last reported (`{"on": true, "level": 2}`), `state_by` what changed it
    (a person, `automation`, the device itself); `available` follows the device's availability topic."""

    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("room_id", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    module_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    # the topic prefix of the device; commands go to `<topic>/set`, it reports on `<topic>/state`
    topic: Mapped[str] = mapped_column(String(256), unique=True)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state_ms: Mapped[int | None] = mapped_column(BigInteger)
    state_by: Mapped[str | None] = mapped_column(String(128))
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModuleAction(Base):
    """One command to a module: who or what asked, why, when, and how it ended (pending -> acknowledged or
    failed; `proposed` for automation's recommendations until an operator confirms or dismisses them)."""

    __tablename__ = "module_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id", ondelete="CASCADE"), index=True)
    action_type: Mapped[str] = mapped_column(String(32))
    desired: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # manual, automation, api
    priority: Mapped[str] = mapped_column(String(16))
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    completed_ms: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(512))
    # effectiveness of a ventilation action: air change rate measured from the CO2 decay that followed
    ach_per_h: Mapped[float | None] = mapped_column(Float)
    ach_r2: Mapped[float | None] = mapped_column(Float)


class ModuleStateChange(Base):
    """A module's reported state each time it changed (not every report): the history forecasting reads to
    know when the room was ventilated. `ventilation` is the state's air exchange level, 0 to 1
    (`app.core.domain.modules.ventilation_level`), NULL for modules that do not exchange air. Bounded: each
    module keeps its newest `MAX_STATE_CHANGES_PER_MODULE` rows (`app/core/storage/modules.py`)."""

    __tablename__ = "module_state_changes"
    __table_args__ = (Index("ix_module_state_changes_room_ts", "room_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    ventilation: Mapped[float | None] = mapped_column(Float)


class RoomAutomation(Base):
    """How the platform may act on a room by itself: `off`, `recommend` or `auto`, and its limits."""

    __tablename__ = "room_automation"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), default="off")
    min_on_s: Mapped[float] = mapped_column(Float, default=900.0)
    cooldown_s: Mapped[float] = mapped_column(Float, default=600.0)
    daily_budget: Mapped[int] = mapped_column(Integer, default=24)
    manual_hold_s: Mapped[float] = mapped_column(Float, default=3600.0)
    co2_on_ppm: Mapped[float] = mapped_column(Float, default=1000.0)
    co2_off_ppm: Mapped[float] = mapped_column(Float, default=750.0)
    pm25_on_ugm3: Mapped[float] = mapped_column(Float, default=25.0)
    pm25_off_ugm3: Mapped[float] = mapped_column(Float, default=10.0)


class MlModel(Base):
    """A registered forecasting model version (`ml_models`, seed contract `/api/models/*`).

    The trainer registers one per training run and room metric; `POST /api/models/register` registers
    models made elsewhere. At most one version of a name is `active`; the others are `candidate` (never
    activated, or not good enough) or `retired` (replaced)."""

    __tablename__ = "ml_models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), index=True)
    version: Mapped[str] = mapped_column(String(64))
    model_type: Mapped[str] = mapped_column(String(64))
    artifact_path: Mapped[str | None] = mapped_column(String(1024))
    checksum: Mapped[str | None] = mapped_column(String(64))  # sha256 of the artifact file
    metric: Mapped[str | None] = mapped_column(String(64))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"), index=True)
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    training_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    training_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate, active, retired
    activated_by: Mapped[str | None] = mapped_column(String(128))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingRun(Base):
    """One training of one model name: what it trained on, how long it took, how it ended."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256), index=True)
    trigger: Mapped[str] = mapped_column(String(32))  # scheduled, manual, api
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None]
    data_points: Mapped[int | None]
    # running, promoted, kept (trained but not better than the active model or persistence), failed
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(String(1024))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("ml_models.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class User(Base):
    """An account: local (with a password hash) or from single sign-on (`oidc_subject`), with one role,
    optionally limited to some sites (`sites`: names; None means every site)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    sites: Mapped[list[str] | None] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    oidc_subject: Mapped[str | None] = mapped_column(String(256), unique=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    language: Mapped[str | None] = mapped_column(String(8))  # chosen in the account menu; None: the browser's


class AccessToken(Base):
    """A personal access token: acts with its user's role. Only a hash of the secret is kept."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeviceKey(Base):
    """A device (ingestion) key bound to one site. Only a hash of the secret is kept."""

    __tablename__ = "device_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Who did what: logins (and failures), configuration, user, key and token changes, actions."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(256))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(64))
