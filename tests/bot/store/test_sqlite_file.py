"""A SQLite file deleted or replaced under the running bot: writes are refused on the
database-unavailable path (and logged), never silently lost."""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from bot.chat.core import Actor
from bot.chat.parsing import to_base36
from bot.runtime.app import build_core
from bot.serving.poets import PoetHolder
from tests.conftest import bot_settings

pytestmark = pytest.mark.integration

ALICE = Actor("telegram", "1", "-100", "Alice", "group")
BOB = Actor("telegram", "2", "-100", "Bob", "group")


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
async def test_a_vanished_sqlite_file_refuses_writes_instead_of_losing_them(
    tmp_path, poet, caplog, fault
):
    db_file = tmp_path / "bot.db"
    core = build_core(bot_settings(f"sqlite:///{db_file}"), PoetHolder(poet=poet))
    try:
        first = await core.command(ALICE, "/acrostic 春")
        ident = to_base36(first.poem_id)
        assert "★★★★★" in (await core.command(BOB, f"/rate {ident} 5")).text
        if fault == "deleted":  # rm bot.db*
            for path in tmp_path.glob("bot.db*"):
                path.unlink()
        else:  # a copy moved over it: same name, another inode
            shutil.copy(db_file, tmp_path / "copy.db")
            os.replace(tmp_path / "copy.db", db_file)
        caplog.set_level(logging.INFO)
        for text in (f"/rate {ident} 4", "/stats", "/top", "/settings 五言"):
            reply = await core.command(ALICE, text)
            assert reply.text.startswith("数据库暂时不可用"), (text, reply.text)
        answer = await core.callback(BOB, f"r:{ident}:1")
        assert answer.toast.startswith("数据库暂时不可用") and answer.alert
        poem = await core.command(ALICE, "/acrostic 夏")
        assert "《夏》" in poem.text and "数据库暂时不可用" in poem.text and not poem.buttons
        said = [r for r in caplog.records if "deleted or replaced" in r.getMessage()]
        assert len(said) == 1 and said[0].levelno == logging.ERROR
    finally:
        await core.close()
        core.db.dispose()
