"""indexes for a national library's size, and the Vietnamese title order

Revision ID: b3f1a9c07d52
Revises: 5b8e2f0c6d14
Create Date: 2026-12-04 23:20:00.000000

"""

import json

import sqlalchemy as sa
from alembic import op

from repository.services.collation import sort_key

# revision identifiers, used by Alembic.
revision = "b3f1a9c07d52"
down_revision = "5b8e2f0c6d14"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_item_listing": [
        "collection_id",
        "created_at",
        "id",
        "status",
        "access",
        "embargo_until",
        "published_at",
    ],
    "ix_item_collection_title": ["collection_id", "title_sort"],
    "ix_item_changed": ["updated_at", "id"],
    "ix_item_public_ids": ["status", "id", "access", "embargo_until", "updated_at"],
}


def _title(value):
    """models.sortable_title, as of this migration: Vietnamese, else English, else any."""
    title = json.loads(value) if isinstance(value, str) else (value or {})
    return title.get("vi") or title.get("en") or next((t for t in title.values() if t), "")


def upgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title_sort", sa.String(length=400), server_default="", nullable=False)
        )
    connection = op.get_bind()
    item = sa.table("item", sa.column("id", sa.String), sa.column("title", sa.JSON))
    rows = connection.execute(sa.select(item.c.id, item.c.title)).all()
    update = sa.text("UPDATE item SET title_sort = :key WHERE id = :id")
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]
        connection.execute(update, [{"id": i, "key": sort_key(_title(t))} for i, t in batch])
    with op.batch_alter_table("item", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column("title_sort")
