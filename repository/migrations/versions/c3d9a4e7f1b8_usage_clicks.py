"""COUNTER double clicks across processes: the last use of an item by a hashed user

Revision ID: c3d9a4e7f1b8
Revises: b5e1f0c2a7d3
Create Date: 2026-12-05 06:00:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c3d9a4e7f1b8"
down_revision = "b5e1f0c2a7d3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "usage_click",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_usage_click")),
    )
    with op.batch_alter_table("usage_click", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_click_at"), ["at"], unique=False)


def downgrade():
    with op.batch_alter_table("usage_click", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_click_at"))
    op.drop_table("usage_click")
