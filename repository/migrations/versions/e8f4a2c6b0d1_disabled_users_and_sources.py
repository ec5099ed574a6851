"""Disabled accounts and harvest sources: user.disabled (no sign-in of any kind, its
sessions and tokens void, its password kept) and harvest_source.enabled.

Accounts disabled before this column, by taking away their password, have no password
and no single sign-on: they are marked disabled, as the admin showed them.

Revision ID: e8f4a2c6b0d1
Revises: f2a7c9e1d3b5
Create Date: 2026-12-05 06:00:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e8f4a2c6b0d1"
down_revision = "f2a7c9e1d3b5"
branch_labels = None
depends_on = None


def _users():
    return sa.table(
        "user",
        sa.column("disabled", sa.Boolean()),
        sa.column("password_hash", sa.String()),
        sa.column("sso_subject", sa.String()),
    )


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
    with op.batch_alter_table("harvest_source", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False)
        )
    user = _users()
    op.execute(
        user.update()
        .where(user.c.password_hash == "", user.c.sso_subject.is_(None))
        .values(disabled=True)
    )


def downgrade():
    # Without the column, a disabled account is kept out the old way: no password.
    user = _users()
    op.execute(user.update().where(user.c.disabled == sa.true()).values(password_hash=""))
    with op.batch_alter_table("harvest_source", schema=None) as batch_op:
        batch_op.drop_column("enabled")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("disabled")
