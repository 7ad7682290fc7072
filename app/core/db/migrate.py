"""Apply Alembic migrations from code (at start-up, and from `python -m app.cli init-db`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[3]


def alembic_config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there.

    On SQLite, foreign keys are off while migrating: a migration that copies a table (the only way SQLite
    changes some definitions) drops the old one, which with foreign keys on would delete every row that
    refers to it. They are checked once the migration committed, and switched on again."""
    cfg = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction, where it takes effect
            conn.commit()
        before = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()  # the read began a transaction; the migration opens its own
        with conn.begin():
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        migrated = MigrationContext.configure(conn).get_current_revision() != before
        if sqlite:
            # checked once after a migration ran (a whole-database check at every start would be slow)
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() if migrated else []
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
            if broken:
                raise RuntimeError(f"the migration left rows that refer to nothing: {broken[:5]}")
