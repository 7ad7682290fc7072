"""durable outbox in front of InfluxDB; 5-minute and hourly rollups

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "influx_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sensor_pk", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("line", sa.String(), nullable=False),
        sa.Column("error", sa.String(length=512), nullable=True),
    )
    op.create_index("ux_influx_outbox_sensor_ts", "influx_outbox", ["sensor_pk", "ts_ms"], unique=True)
    op.create_index("ix_influx_outbox_room_ts", "influx_outbox", ["room_id", "ts_ms"])
    op.create_table(
        "rollups",
        sa.Column("room_id", sa.Integer(), sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("step_s", sa.Integer(), primary_key=True),
        sa.Column("ts_ms", sa.BigInteger(), primary_key=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("rollups")
    op.drop_index("ix_influx_outbox_room_ts", table_name="influx_outbox")
    op.drop_index("ux_influx_outbox_sensor_ts", table_name="influx_outbox")
    op.drop_table("influx_outbox")
