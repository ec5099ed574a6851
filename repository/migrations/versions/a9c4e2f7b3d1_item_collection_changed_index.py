"""An index on item (collection_id, updated_at, id): an OAI-PMH set lists its records by
change, each collection of the set along its own part of this index. Without it SQLite
sorted every item of a large set for each page (21 ms for a fifth of 200,000 items).

Revision ID: a9c4e2f7b3d1
Revises: e8f4a2c6b0d1
Create Date: 2026-12-05 12:45:00
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a9c4e2f7b3d1"
down_revision = "e8f4a2c6b0d1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_item_collection_changed", ["collection_id", "updated_at", "id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_collection_changed")
