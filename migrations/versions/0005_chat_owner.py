"""whose private chat: chats.owner_id, so /forgetme deletes a user's DMs and subscriptions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:40:00.000000

A Discord DM channel's id is not its user's id, so the owner of a private chat (a DM, the inline
pseudo-chat) is recorded. Existing private chats get the one user who wrote in them, if one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_chats_owner_id"), ["owner_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_chats_owner_id_users"), "users", ["owner_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip
    op.execute(
        """
        UPDATE chats SET owner_id = (
            SELECT MIN(poem_requests.user_id) FROM poem_requests
            WHERE poem_requests.chat_id = chats.id
        )
        WHERE kind IN ('private', 'inline') AND (
            SELECT COUNT(DISTINCT poem_requests.user_id) FROM poem_requests
            WHERE poem_requests.chat_id = chats.id
        ) = 1
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_chats_owner_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_chats_owner_id"))
        batch_op.drop_column("owner_id")
