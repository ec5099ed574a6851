"""Items' subjects, creators and places as rows (item_term), for browsing along an index
rather than decoding every item's Dublin Core (6.6 s at 200,000 items); and an index on
item (year_start, title_sort, id) for browsing by date.

Revision ID: f2a7c9e1d3b5
Revises: d7e2b9c4a1f5
Create Date: 2026-12-05 06:05:00
"""

import json

import sqlalchemy as sa
from alembic import op

from repository.services.terms import term_rows

# revision identifiers, used by Alembic.
revision = "f2a7c9e1d3b5"
down_revision = "d7e2b9c4a1f5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "item_term",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("sort", sa.String(length=400), nullable=False),
        sa.Column("title_sort", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("kind", "key", "item_id"),
    )
    with op.batch_alter_table("item_term", schema=None) as batch_op:
        batch_op.create_index("ix_item_term_item", ["item_id"], unique=False)
        batch_op.create_index(
            "ix_item_term_titles", ["kind", "key", "title_sort", "item_id"], unique=False
        )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index("ix_item_year", ["year_start", "title_sort", "id"], unique=False)
    connection = op.get_bind()
    item = sa.table(
        "item", sa.column("id", sa.String), sa.column("dc", sa.JSON), sa.column("title_sort")
    )
    terms = sa.table(
        "item_term",
        *(sa.column(name) for name in ("kind", "key", "item_id", "label", "sort", "title_sort")),
    )
    rows = connection.execute(sa.select(item.c.id, item.c.dc, item.c.title_sort)).all()
    for start in range(0, len(rows), 1000):
        written = [
            row
            for item_id, dc, title_sort in rows[start : start + 1000]
            for row in term_rows(item_id, json.loads(dc) if isinstance(dc, str) else dc, title_sort)
        ]
        if written:
            connection.execute(terms.insert(), written)


def downgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_year")
    op.drop_table("item_term")
