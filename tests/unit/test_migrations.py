"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import app.core.storage.sql_schema  # noqa: F401
from app.core.db.migrate import alembic_config, upgrade_to_head
from app.core.db.models import Base
from app.core.db.session import make_engine


def test_models_and_migrations_agree(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_upgrade_is_idempotent_and_downgrade_removes_everything(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(engine)
    upgrade_to_head(engine)  # the app does this at every start
    assert {"sites", "rooms", "sensors", "readings", "latest_values"} <= set(
        inspect(engine).get_table_names()
    )
    cfg = alembic_config()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # as the app migrates: 0013 copies tables
        conn.commit()
        with conn.begin():
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_ids_are_never_reused_and_the_copy_keeps_every_row(tmp_path):
    """0013 copies sites, rooms, sensors and modules to give them AUTOINCREMENT: what refers to them (here a
    reading and an alert of the room) survives the copy, and a room made after the newest was deleted gets a
    new id, so nothing of the deleted room can show under it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0012")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sites (id, name, timezone, created_at) VALUES (1, 'S', 'UTC', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO rooms (id, site_id, name, created_at) VALUES (1, 1, 'A', '2026-01-01'), "
            "(2, 1, 'B', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO sensors (id, sensor_id, room_id, created_at) VALUES (1, 's', 2, '2026-01-01')"
        )
        conn.exec_driver_sql("INSERT INTO readings (sensor_pk, room_id, ts_ms, co2) VALUES (1, 2, 1, 500)")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM readings").scalar() == 1
        assert conn.exec_driver_sql("SELECT room_id FROM sensors").scalar() == 2
        conn.exec_driver_sql("DELETE FROM rooms WHERE id = 2")
        assert conn.exec_driver_sql("SELECT count(*) FROM readings").scalar() == 0  # foreign keys on again
        conn.exec_driver_sql("INSERT INTO rooms (site_id, name, created_at) VALUES (1, 'C', '2026-01-02')")
        assert conn.exec_driver_sql("SELECT id FROM rooms WHERE name = 'C'").scalar() == 3
