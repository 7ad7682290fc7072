"""digital twin: room geometry (footprint, height, floor, sensor positions)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A nullable column: a plain ALTER TABLE on SQLite and PostgreSQL. `recreate="never"` keeps batch mode from
# copying `rooms`, whose drop would cascade to sensors and readings with foreign keys on.


def upgrade() -> None:
    with op.batch_alter_table("rooms", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("geometry", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rooms", recreate="never") as batch_op:
        batch_op.drop_column("geometry")
