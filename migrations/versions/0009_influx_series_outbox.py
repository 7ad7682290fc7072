"""outbox of the scores, forecasts and actions on their way to InfluxDB

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 13:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "influx_series_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("line", sa.String(), nullable=False),
        sa.Column("error", sa.String(length=512), nullable=True),
    )
    op.create_index("ix_influx_series_outbox_room_id", "influx_series_outbox", ["room_id"])


def downgrade() -> None:
    op.drop_index("ix_influx_series_outbox_room_id", table_name="influx_series_outbox")
    op.drop_table("influx_series_outbox")
