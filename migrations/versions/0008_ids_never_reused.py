"""SQLite: users, chats and poem_requests take AUTOINCREMENT ids, never a deleted row's again

A forgotten user's last poem left its id free, and SQLite gave it to the next poem: a card drawn
for the old poem was served for the new one, and a request still in flight for the forgotten
user stored under the re-created user's old id. PostgreSQL's sequences never reuse ids.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 02:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("users", "chats", "poem_requests")


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:  # copied, then swapped in (foreign keys are off during migrations)
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
