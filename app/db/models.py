"""Registry tables: sites (`enseigne`), rooms (`salle`) and sensors.

Time series live in `app.storage`; their SQL tables share this metadata so that one set of Alembic
migrations covers the whole database, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, String, UniqueConstraint
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
    __table_args__ = (UniqueConstraint("site_id", "name"),)

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

    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[str] = mapped_column(String(128), unique=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"), index=True)
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    room: Mapped[Room | None] = relationship(back_populates="sensors")


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
