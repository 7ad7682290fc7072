"""sites, rooms, sensors and modules keep their ids for ever on SQLite (AUTOINCREMENT): a new room never takes
the id of a deleted one, so nothing keyed by a room id (alerts in memory, pages open on /rooms/ID, links,
forecasts) can ever show one room's things under another. PostgreSQL's sequences never reuse ids already.

The tables are copied (SQLite cannot change a table's key otherwise), with foreign keys off for the copy
(app.core.db.migrate), so dropping the old table deletes nothing that refers to it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 20:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sites", "rooms", "sensors", "modules")


def _recreate(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # dropping the old tables would delete every row that refers to them (readings, alerts, ...)
        raise RuntimeError(
            "migration 0013 copies tables and needs foreign keys off: run it with "
            "`python -m app.cli init-db` or by starting the platform"
        )
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
