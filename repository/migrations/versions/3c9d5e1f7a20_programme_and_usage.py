"""programme categories and holdings, and COUNTER usage counts

Revision ID: 3c9d5e1f7a20
Revises: b3f1a9c07d52
Create Date: 2026-12-04 23:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3c9d5e1f7a20"
down_revision = "b3f1a9c07d52"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("collection", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "programme_category", sa.String(length=20), server_default="other", nullable=False
            )
        )
    op.create_table(
        "programme_holdings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("titles", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("counted_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("entered_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_holdings")),
    )
    with op.batch_alter_table("programme_holdings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_programme_holdings_category"), ["category"], unique=False
        )
    op.create_table(
        "usage_count",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("session", sa.String(length=32), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month", "item_id", "metric", "session", name=op.f("pk_usage_count")
        ),
    )
    with op.batch_alter_table("usage_count", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_count_item_id"), ["item_id"], unique=False)
    op.create_table(
        "usage_salt",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_usage_salt")),
    )


def downgrade():
    op.drop_table("usage_salt")
    with op.batch_alter_table("usage_count", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_count_item_id"))
    op.drop_table("usage_count")
    with op.batch_alter_table("programme_holdings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_holdings_category"))
    op.drop_table("programme_holdings")
    with op.batch_alter_table("collection", schema=None) as batch_op:
        batch_op.drop_column("programme_category")
