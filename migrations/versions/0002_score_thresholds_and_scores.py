"""IAQ score: threshold overrides per site and room, and the series of room scores

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:29:08.197062
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Adding and dropping a nullable column are plain ALTER TABLE statements on SQLite (3.35+) and PostgreSQL.
# `recreate="never"` makes sure batch mode never copies `sites` or `rooms`: with foreign keys on, dropping
# the old copy would cascade to every room, sensor and reading.


def upgrade() -> None:
    op.create_table(
        "iaq_scores",
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("driver", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_iaq_scores_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", "ts_ms", name=op.f("pk_iaq_scores")),
    )
    for table in ("sites", "rooms"):
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.add_column(sa.Column("score_thresholds", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("rooms", "sites"):
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.drop_column("score_thresholds")
    op.drop_table("iaq_scores")
