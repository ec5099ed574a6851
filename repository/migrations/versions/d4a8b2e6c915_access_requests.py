"""access requests: readers ask to read restricted items, curators grant or refuse

Revision ID: d4a8b2e6c915
Revises: 3c9d5e1f7a20
Create Date: 2026-12-05 03:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d4a8b2e6c915"
down_revision = "3c9d5e1f7a20"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "access_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["item.id"],
            name=op.f("fk_access_request_item_id_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_access_request_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_request")),
    )
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_request_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_request_user_id"), ["user_id"], unique=False)
        batch_op.create_index("ix_access_request_queue", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "uq_access_request_pending",
            ["user_id", "item_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )


def downgrade():
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_index("uq_access_request_pending")
        batch_op.drop_index("ix_access_request_queue")
        batch_op.drop_index(batch_op.f("ix_access_request_user_id"))
        batch_op.drop_index(batch_op.f("ix_access_request_item_id"))
    op.drop_table("access_request")
