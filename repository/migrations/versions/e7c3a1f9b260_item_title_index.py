"""An index on item (title_sort, id): the admin list sorted by title over every collection
read the whole table and sorted it (1.9 s for page 4,000 at 200,000 items).

Revision ID: e7c3a1f9b260
Revises: d4a8b2e6c915
Create Date: 2026-12-05 03:25:00
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "e7c3a1f9b260"
down_revision = "d4a8b2e6c915"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index("ix_item_title", ["title_sort", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_title")
