"""Hostile input through the command core, on SQLite and PostgreSQL: huge ids, NUL bytes and
lone surrogates, other chats' poems, other users' buttons."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.base import messages
from bot.chat.core import Actor
from bot.chat.parsing import to_base36
from bot.runtime.app import build_core
from bot.serving.poets import PoetHolder
from bot.store.models import PoemRequest, Rating
from tests.conftest import bot_settings

pytestmark = pytest.mark.integration

ALICE = Actor("telegram", "1", "-100", "Alice", "group")  # in the group
BOB = Actor("telegram", "2", "-100", "Bob", "group")
MALLORY = Actor("telegram", "3", "3", "Mallory")  # in her private chat
ALICE_PRIVATELY = Actor("telegram", "1", "1", "Alice")


@pytest.fixture
async def core(database_url, poet):
    core = build_core(bot_settings(database_url), PoetHolder(poet=poet))
    yield core
    await core.close()
    core.db.dispose()


def rows(core, model):
    with core.db.session() as session:
        return list(session.scalars(select(model).order_by(model.id)))


@pytest.mark.parametrize("ident", ["zik0zk", "zzzzzzzzzz", "#zik0zk"])
async def test_a_poem_id_beyond_32_bits_is_not_found(core, caplog, ident):
    """2**31 is 'zik0zk': PostgreSQL refused it as a parameter (NumericValueOutOfRange)."""
    caplog.set_level(logging.INFO)
    for command in (f"/poem {ident}", f"/rate {ident} 5", f"/again {ident}"):
        assert (await core.command(ALICE, command)).text == messages.NO_SUCH_POEM
    for data in (f"r:{ident.lstrip('#')}:5", f"a:{ident.lstrip('#')}"):
        answer = await core.callback(ALICE, data)
        assert answer.toast == messages.NO_SUCH_POEM and answer.alert
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("head", ["春\x00风", "春\ud800风", "\udfff"])
async def test_nul_and_lone_surrogates_get_the_bad_head_line_and_are_stored(core, head):
    reply = await core.command(ALICE, f"/acrostic {head}")
    assert reply.error_id is None and "只能是汉字" in reply.text and "用法" in reply.text
    (row,) = rows(core, PoemRequest)
    assert (row.status.value, row.error_code) == ("rejected", "bad_head")
    assert "\x00" not in row.raw_text and "\ufffd" in row.raw_text


async def test_a_nul_in_a_user_name_is_stored_sanitised(core):
    reply = await core.command(Actor("telegram", "5", "5", "Li\x00Bai\ud800"), "/acrostic 春")
    assert "《春》" in reply.text and reply.poem_id is not None


async def test_another_chats_poem_cannot_be_shown_rated_or_rewritten(core):
    poem = await core.command(ALICE, "/acrostic 秋月")
    ident = to_base36(poem.poem_id)
    for command in (f"/poem {ident}", f"/rate {ident} 5", f"/again {ident}"):
        assert (await core.command(MALLORY, command)).text == messages.NO_SUCH_POEM
    for data in (f"r:{ident}:1", f"a:{ident}"):
        answer = await core.callback(MALLORY, data)
        assert answer.toast == messages.NO_SUCH_POEM and answer.reply is None
    assert rows(core, Rating) == [] and len(rows(core, PoemRequest)) == 1
    # in the chat it was written in, anyone may; elsewhere, its author may
    assert "★★★" in (await core.callback(BOB, f"r:{ident}:3")).toast
    assert "结果与原诗一致：是" in (await core.command(ALICE_PRIVATELY, f"/poem {ident}")).text
    assert "★★★★" in (await core.command(ALICE_PRIVATELY, f"/rate {ident} 4")).text
    assert sorted(r.stars for r in rows(core, Rating)) == [3, 4]


async def test_only_the_asker_can_press_the_forgetme_button(core):
    await core.command(ALICE, "/acrostic 月")
    await core.command(BOB, "/acrostic 星")
    ask = await core.command(ALICE, "/forgetme")
    payload = ask.buttons[0][0].payload
    assert len(payload.encode()) <= 64 and payload.isascii()
    answer = await core.callback(BOB, payload)
    assert answer.toast == messages.NOT_YOUR_BUTTON and answer.alert and answer.edit is None
    assert sorted(r.head for r in rows(core, PoemRequest)) == ["星", "月"]  # Bob's data too
    answer = await core.callback(ALICE, payload)
    assert answer.toast == messages.FORGOTTEN.format(requests=1, ratings=0)
    assert [r.head for r in rows(core, PoemRequest)] == ["星"]
    assert (await core.callback(ALICE, "f:0")).toast == messages.STALE_BUTTON  # the old payload


@pytest.mark.parametrize("junk", ["\u202eevil", "\u2066x\u2069", "a\x1b[31mred", "\u200b"])
async def test_invisible_and_bidi_characters_are_echoed_as_code_points(core, junk, caplog):
    """Issue 31 item 9: /settings echoes what it could not read; nothing invisible reaches the
    chat or the log raw."""
    import logging

    from bot.base.logs import SafeRecordFilter

    reply = await core.command(ALICE, f"/settings {junk}")
    raw = [ch for ch in junk if ch in "\u202e\u2066\u2069\x1b\u200b"]
    assert not any(ch in reply.text for ch in raw)
    assert f"U+{ord(raw[0]):04X}" in reply.text
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "refused %s", (junk,), None)
    SafeRecordFilter().filter(record)
    assert not any(ch in record.getMessage() for ch in raw)


@pytest.mark.parametrize("mark", ["\u0301", "\ufe0f", "\U000e0100"])  # combining, VS16, VS17
def test_a_head_error_names_invisible_marks_by_code_point(mark):
    from engine.heads import HeadError, normalize_head

    with pytest.raises(HeadError) as caught:
        normalize_head("春" + mark)
    assert mark not in str(caught.value) and f"U+{ord(mark):04X}" in str(caught.value)


async def test_a_flood_of_refused_requests_is_counted_not_stored_row_by_row(core):
    """Issue 31 item 6: bad heads past the per-minute cap fold into the last stored row."""
    for n in range(25):
        reply = await core.command(ALICE, f"/acrostic abc{n}")
        assert "只能是汉字" in reply.text  # every one still gets its answer
    with core.db.session() as session:
        rows = session.scalars(select(PoemRequest)).all()
    assert len(rows) == 10  # CANGTOU_LIMITS__REFUSALS_PER_MINUTE
    assert sum(r.repeats for r in rows) == 15 and rows[-1].repeats == 15


async def test_a_flood_of_stars_is_stored_but_edits_the_message_only_so_often(core):
    """Issue 31 item 6: every ★ is a rating; past the cap a press gets its toast, no edit."""
    poem = await core.command(ALICE, "/acrostic 春风")
    answers = [await core.callback(BOB, f"r:{to_base36(poem.poem_id)}:{1 + n % 5}")
               for n in range(25)]  # fmt: skip
    assert sum(a.edit is not None for a in answers) == 10 and all(a.toast for a in answers)
    with core.db.session() as session:
        assert session.scalar(select(Rating)).stars == 5  # the last press counts
