"""influx_sent_keys: the (sensor, time) of readings InfluxDB confirmed recently, so that a reading sent again
is known as a duplicate without asking InfluxDB (and while it cannot be reached)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "influx_sent_keys",
        sa.Column("sensor_pk", sa.Integer(), primary_key=True),
        sa.Column("ts_ms", sa.BigInteger(), primary_key=True),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_influx_sent_keys_ts", "influx_sent_keys", ["ts_ms"])


def downgrade() -> None:
    op.drop_index("ix_influx_sent_keys_ts", table_name="influx_sent_keys")
    op.drop_table("influx_sent_keys")
