"""The site's own pages (about, contact, terms) and the institution's name, footer and
logo, as curators write them in the admin.

Revision ID: b5e1f0c2a7d3
Revises: e7c3a1f9b260
Create Date: 2026-12-05 05:30:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b5e1f0c2a7d3"
down_revision = "e7c3a1f9b260"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "site_page",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=20), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_page")),
        sa.UniqueConstraint("slug", name=op.f("uq_site_page_slug")),
    )
    op.create_table(
        "site_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("footer", sa.JSON(), nullable=False),
        sa.Column("logo_key", sa.String(length=120), nullable=False),
        sa.Column("logo_type", sa.String(length=40), nullable=False),
        sa.Column("logo_width", sa.Integer(), nullable=False),
        sa.Column("logo_height", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_identity")),
    )


def downgrade():
    op.drop_table("site_identity")
    op.drop_table("site_page")
