"""iaq_forecast.if_ventilated: the level expected at each horizon if the room's ventilation is switched on

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a nullable column: SQLite adds it in place, existing forecasts simply have none
    op.add_column("iaq_forecast", sa.Column("if_ventilated", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("iaq_forecast") as batch:
        batch.drop_column("if_ventilated")
