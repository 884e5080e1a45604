"""sent_messages (which sent message holds which poem) and subscriptions.via (QQ)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:40:00.000000

OneBot v11 has no buttons: a QQ user rates or rewrites a poem by replying to the message that
holds it, and the reply names only that message's id. The rows outlive a restart and go with
their poem (/forgetme). A subscription remembers the QQ account that received /subscribe, so
that with several accounts connected its daily poem goes out through that one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["poem_requests.id"],
            name=op.f("fk_sent_messages_request_id_poem_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_messages")),
        sa.UniqueConstraint("platform", "account", "message_id", name="one_message"),
    )
    with op.batch_alter_table("sent_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sent_messages_request_id"), ["request_id"], unique=False
        )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("via", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("via")
    with op.batch_alter_table("sent_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sent_messages_request_id"))
    op.drop_table("sent_messages")
