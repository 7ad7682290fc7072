"""modules: actuators of rooms, their commands (actions) and each room's automation settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Only new tables: nothing existing is copied, so foreign keys of rooms are safe on SQLite.


def upgrade() -> None:
    op.create_table(
        "modules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("module_type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("state_ms", sa.BigInteger(), nullable=True),
        sa.Column("state_by", sa.String(length=128), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_modules_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modules")),
        sa.UniqueConstraint("room_id", "name", name=op.f("uq_modules_room_id")),
        sa.UniqueConstraint("topic", name=op.f("uq_modules_topic")),
    )
    op.create_index(op.f("ix_modules_room_id"), "modules", ["room_id"], unique=False)
    op.create_table(
        "module_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("action_type", sa.String(length=32), nullable=False),
        sa.Column("desired", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_ms", sa.BigInteger(), nullable=False),
        sa.Column("completed_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.Column("ach_per_h", sa.Float(), nullable=True),
        sa.Column("ach_r2", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["module_id"],
            ["modules.id"],
            name=op.f("fk_module_actions_module_id_modules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_actions")),
    )
    op.create_index(op.f("ix_module_actions_module_id"), "module_actions", ["module_id"], unique=False)
    op.create_index(op.f("ix_module_actions_requested_ms"), "module_actions", ["requested_ms"], unique=False)
    op.create_index(op.f("ix_module_actions_status"), "module_actions", ["status"], unique=False)
    op.create_table(
        "room_automation",
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("min_on_s", sa.Float(), nullable=False),
        sa.Column("cooldown_s", sa.Float(), nullable=False),
        sa.Column("daily_budget", sa.Integer(), nullable=False),
        sa.Column("manual_hold_s", sa.Float(), nullable=False),
        sa.Column("co2_on_ppm", sa.Float(), nullable=False),
        sa.Column("co2_off_ppm", sa.Float(), nullable=False),
        sa.Column("pm25_on_ugm3", sa.Float(), nullable=False),
        sa.Column("pm25_off_ugm3", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_room_automation_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_room_automation")),
    )


def downgrade() -> None:
    op.drop_table("room_automation")
    op.drop_index(op.f("ix_module_actions_status"), table_name="module_actions")
    op.drop_index(op.f("ix_module_actions_requested_ms"), table_name="module_actions")
    op.drop_index(op.f("ix_module_actions_module_id"), table_name="module_actions")
    op.drop_table("module_actions")
    op.drop_index(op.f("ix_modules_room_id"), table_name="modules")
    op.drop_table("modules")
