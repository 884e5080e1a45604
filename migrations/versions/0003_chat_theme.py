"""a chat's default theme

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("theme", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_settings", schema=None) as batch_op:
        batch_op.drop_column("theme")
