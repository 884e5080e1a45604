"""Alembic environment: the URL comes from the Alembic config or else the bot's settings."""

from __future__ import annotations

import logging

from alembic import context
from alembic.util import CommandError

from bot.store.models import Base
from bot.store.session import make_engine

config = context.config
target_metadata = Base.metadata
log = logging.getLogger("alembic.env")


def _url() -> str:
    try:
        url = config.get_main_option("sqlalchemy.url")
    except CommandError:  # the alembic CLI with only [tool.alembic] in pyproject.toml
        url = None
    if url:
        return url
    from bot.base.settings import get_settings

    return get_settings().database_url


def include_name(name, type_, parent_names) -> bool:
    """Tables that are not ours (APScheduler's job store) are never touched by autogenerate."""
    return not (type_ == "table" and name.startswith("apscheduler_jobs"))


def run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # SQLite alters a table by copying it and dropping the old one; with foreign keys
                # enforced, that drop would cascade to every row that refers to it (a batch
                # migration of chats would delete every poem). Off for the migration (a no-op
                # inside a transaction, so before it begins), checked after.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,  # SQLite alters tables by copying them
                compare_type=True,
                include_name=include_name,
            )
            with context.begin_transaction():
                context.run_migrations()
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        f"the migration left rows whose keys point nowhere: {broken[:5]}"
                    )
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
