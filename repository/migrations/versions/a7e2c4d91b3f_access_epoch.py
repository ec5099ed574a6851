"""access epoch: sign-out and role or group changes end sessions and tokens

Revision ID: a7e2c4d91b3f
Revises: 050a148e8e94
Create Date: 2026-12-04 20:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a7e2c4d91b3f"
down_revision = "050a148e8e94"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("access_epoch", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("epoch_changed_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("epoch_changed_at")
        batch_op.drop_column("access_epoch")
