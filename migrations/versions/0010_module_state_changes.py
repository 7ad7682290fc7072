"""module_state_changes: each module's reported state when it changed, with its ventilation level

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new table only: nothing existing is copied, so the foreign keys are safe on SQLite.


def upgrade() -> None:
    op.create_table(
        "module_state_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("ventilation", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["module_id"],
            ["modules.id"],
            name=op.f("fk_module_state_changes_module_id_modules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_module_state_changes_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_state_changes")),
    )
    op.create_index(
        op.f("ix_module_state_changes_module_id"), "module_state_changes", ["module_id"], unique=False
    )
    op.create_index("ix_module_state_changes_room_ts", "module_state_changes", ["room_id", "ts_ms"])


def downgrade() -> None:
    op.drop_index("ix_module_state_changes_room_ts", table_name="module_state_changes")
    op.drop_index(op.f("ix_module_state_changes_module_id"), table_name="module_state_changes")
    op.drop_table("module_state_changes")
