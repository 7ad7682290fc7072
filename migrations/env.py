"""Alembic environment: the URL comes from the app's settings, the metadata from its models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import app.core.storage.sql_schema  # noqa: F401  (registers the time-series tables on the metadata)
from app.core.db.models import Base
from app.core.db.session import make_engine
from app.core.settings import Settings

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:  # the app passes its own connection at start-up
        _configure(connection)
        return
    if context.is_offline_mode():
        context.configure(url=Settings().db_url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    settings = Settings()
    settings.ensure_data_dir()
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":  # as app.core.db.migrate does: copied tables must not cascade
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            _configure(conn)
    finally:
        engine.dispose()


run()
