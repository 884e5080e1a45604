"""/forgetme removes every row that identifies the user: their requests and ratings, their
private chats on each platform (a Discord DM channel's id is not the user's), the inline
pseudo-chat, and those chats' subscriptions (issue 31 item 2)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.chat.actors import Actor
from bot.chat.inline import InlinePoems, inline_actor
from bot.store.models import Chat, Subscription, User

pytestmark = pytest.mark.integration

DM_TELEGRAM = Actor("telegram", "42", "42", "Li Bai", "private")
DM_DISCORD = Actor("discord", "42", "dm-channel-9001", "Li Bai", "private")
GROUP = Actor("telegram", "42", "-100", "Li Bai", "group")
OTHER = Actor("telegram", "43", "43", "Du Fu", "private")


async def forget(core, actor):
    ask = await core.command(actor, "/forgetme")
    return await core.callback(actor, ask.buttons[0][0].payload)


def chats(core) -> set[tuple[str, str]]:
    with core.db.session() as session:
        return {(c.platform, c.external_id) for c in session.scalars(select(Chat))}


async def test_forgetme_removes_the_users_private_chats_and_their_subscriptions(core):
    for actor in (DM_TELEGRAM, GROUP, OTHER):
        assert (await core.command(actor, "/acrostic 春风")).poem_id is not None
    await core.command(DM_TELEGRAM, "/subscribe 08:00")
    await core.command(OTHER, "/subscribe 09:00")
    await InlinePoems(core, window_s=5).answer(inline_actor("telegram", "42"), "明月")
    assert {("telegram", "42"), ("telegram", "inline:42"), ("telegram", "-100")} <= chats(core)

    await forget(core, DM_TELEGRAM)
    left = chats(core)
    assert ("telegram", "42") not in left and ("telegram", "inline:42") not in left
    assert {("telegram", "-100"), ("telegram", "43")} <= left  # a group is nobody's own
    with core.db.session() as session:
        subscribed = [s.chat_id for s in session.scalars(select(Subscription))]
        assert len(subscribed) == 1  # Du Fu's, still posting
        assert session.scalar(select(User).where(User.external_id == "42")) is None


async def test_a_discord_dm_is_found_by_its_owner_not_its_id(core):
    assert (await core.command(DM_DISCORD, "/acrostic 山水")).poem_id is not None
    await core.command(DM_DISCORD, "/subscribe 07:30")
    assert ("discord", "dm-channel-9001") in chats(core)
    await forget(core, DM_DISCORD)
    assert ("discord", "dm-channel-9001") not in chats(core)
    with core.db.session() as session:
        assert session.scalars(select(Subscription)).all() == []


async def test_forgetme_while_a_poem_is_written_drops_it_quietly(core, monkeypatch, caplog):
    """Issue 31 item 3: the poem whose user was forgotten meanwhile is not stored, the user
    is told in one line, and nothing of their text reaches the log."""
    import logging

    from bot.store import queries

    save = queries.save_poem

    def forgotten_meanwhile(session, user_id, *args):
        with core.db.session() as other:  # /forgetme, committed in between
            queries.forget_user(other, user_id)
        return save(session, user_id, *args)

    monkeypatch.setattr(queries, "save_poem", forgotten_meanwhile)
    caplog.set_level(logging.DEBUG)
    reply = await core.command(DM_TELEGRAM, "/acrostic 秘密花园")
    assert reply.poem_id is None and reply.text == "你刚刚请我忘记你，这首诗就不留了。"
    assert "秘密" not in caplog.text and "Traceback" not in caplog.text
    with core.db.session() as session:
        assert session.scalar(select(User).where(User.external_id == "42")) is None


async def test_requests_under_way_store_nothing_after_forgetme(core, monkeypatch):
    """Probe 2026-12-07: requests sent just before /forgetme and handled after it re-created
    the user (with their name) and stored their poems under the old user id, which SQLite
    had handed out again. Every request that arrived before the forget now keeps nothing."""
    import asyncio

    generate = core.generate

    async def slow(*args, **kwargs):  # the poem is still being written when /forgetme comes
        await asyncio.sleep(0.3)
        return await generate(*args, **kwargs)

    await core.command(DM_TELEGRAM, "/acrostic 春风")  # the user exists
    monkeypatch.setattr(core, "generate", slow)
    under_way = asyncio.create_task(core.command(DM_TELEGRAM, "/acrostic 秘密"))
    await asyncio.sleep(0.05)
    await forget(core, DM_TELEGRAM)
    assert (await under_way).text == "你刚刚请我忘记你，这首诗就不留了。"
    from bot.base.logs import new_request_id

    new_request_id()  # a refusal recorded for a request that arrived before the forget …
    core.forgot(DM_TELEGRAM.user_key)
    from bot.store.models import RequestStatus

    await core.record_failure(DM_TELEGRAM, "/acrostic 秘", "limit_user", RequestStatus.LIMITED)
    with core.db.session() as session:  # … is not kept either: no user row, no request
        assert session.scalar(select(User).where(User.external_id == "42")) is None
    monkeypatch.undo()
    later = await core.command(DM_TELEGRAM, "/acrostic 明月")  # a new request: served, stored
    assert later.poem_id is not None
