"""Inline mode's core side (bot/chat/inline.py): the answer window, and poems written only once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.base import messages
from bot.chat.inline import InlinePoems, inline_actor
from bot.store.models import PoemRequest


def stored(core) -> int:
    with core.db.session() as session:
        return session.scalar(select(func.count()).select_from(PoemRequest))


def slowed(core, monkeypatch, seconds: float) -> None:
    write = core.write

    async def slow_write(*args, **kwargs):
        await asyncio.sleep(seconds)
        return await write(*args, **kwargs)

    monkeypatch.setattr(core, "write", slow_write)


async def test_poems_not_ready_within_the_window_are_cached_for_the_next_query(core, monkeypatch):
    slowed(core, monkeypatch, 0.3)
    inline = InlinePoems(core, window_s=0.01)
    actor = inline_actor("telegram", "7", "Li Bai")
    (late,) = (await inline.answer(actor, "春风")).offers
    assert late.reply.text == messages.INLINE_WRITING and late.id == "problem"
    while inline.writing:  # they go on being written after the answer
        await asyncio.sleep(0.02)
    assert stored(core) == 3
    answer = await inline.answer(actor, "春风")
    assert [o.title for o in answer.offers] == ["七言藏头", "五言藏头", "七言藏尾"]
    assert answer.shared and stored(core) == 3


async def test_the_same_query_at_once_twice_writes_each_poem_once(core, monkeypatch):
    slowed(core, monkeypatch, 0.1)
    inline = InlinePoems(core)
    first, second = await asyncio.gather(
        inline.answer(inline_actor("telegram", "7"), "明月 五言"),
        inline.answer(inline_actor("telegram", "8"), "明月 五言"),
    )
    assert [o.id for o in first.offers] == [o.id for o in second.offers]
    assert [o.title for o in first.offers] == ["七言藏头", "五言藏头", "五言藏尾"]
    assert stored(core) == 3


async def test_inline_poems_follow_the_retrains_rater_rule(core):
    """Issue 31 item 16: a poem written inline learns only from raters other than its author,
    at least two of them, like any other (bot.operations.retrain_inputs)."""
    from bot.chat.parsing import rate_payload
    from bot.operations.retrain_inputs import rated_poems

    inline = InlinePoems(core, window_s=5)
    author = inline_actor("telegram", "7", "Li Bai")
    offers = (await inline.answer(author, "春风")).offers
    first, second = (int(o.id.partition(".")[2], 36) for o in offers[:2])
    others = [inline_actor("telegram", str(n)) for n in (8, 9)]
    for rater in (author, others[0]):  # the author's own ★ and one other: not enough
        await inline.callback(rater, rate_payload(first, 5))
    for rater in others:
        await inline.callback(rater, rate_payload(second, 5))
    with core.db.session() as session:
        learned = [i for i, _ in rated_poems(session, min_mean=4.0, min_raters=2)]
    assert learned == [second]


def authors(core, offers) -> set[str]:
    from bot.store.models import User

    with core.db.session() as session:
        rows = [session.get(PoemRequest, o.reply.poem_id) for o in offers]
        return {session.get(User, r.user_id).external_id for r in rows}


async def forget(core, actor):
    ask = await core.command(actor, "/forgetme")
    return await core.callback(actor, ask.buttons[0][0].payload)


async def test_forgetme_drops_the_users_inline_poems_from_the_cache(core):
    """Issue 31 item 1: after A's /forgetme, B typing the same head is never offered A's
    (deleted) poems; they are written anew for B."""
    inline = InlinePoems(core, window_s=5)
    alice, bob = inline_actor("telegram", "7"), inline_actor("telegram", "8")
    assert authors(core, (await inline.answer(alice, "春风")).offers) == {"7"}
    await forget(core, alice)
    assert not inline.cache  # the listener dropped them at once
    after = (await inline.answer(bob, "春风")).offers
    assert len(after) == 3 and authors(core, after) == {"8"}  # written anew, for B


async def test_a_poem_forgotten_on_another_replica_is_not_offered_from_this_cache(core):
    """The cache is per process: before offering a cached poem, its row must still exist."""
    here = InlinePoems(core, window_s=5)
    alice, bob = inline_actor("telegram", "7"), inline_actor("telegram", "8")
    assert authors(core, (await here.answer(alice, "明月")).offers) == {"7"}
    core.forget_listeners.remove(here.forget)  # `here` is another process: it hears nothing
    await forget(core, alice)
    assert here.cache  # still holds them ...
    offered = (await here.answer(bob, "明月")).offers
    assert len(offered) == 3 and authors(core, offered) == {"8"}  # ... but offers none


class ManualClock:
    """An injected clock: sleep() waits until the test moves time past its deadline."""

    def __init__(self):
        self.now, self.sleepers = 0.0, []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        done = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, done))
        await done

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, done in [s for s in self.sleepers if s[0] <= self.now]:
            self.sleepers.remove((deadline, done))
            done.set_result(None)
        for _ in range(20):  # let the woken tasks run up to their next await
            await asyncio.sleep(0)


async def test_typing_a_head_letter_by_letter_answers_only_the_last_query(core):
    """Issue 31 item 5: queries 0.15 s apart; only the one that stayed newest for the
    debounce time writes poems, and the user's /acrostic tokens are all still there."""
    clock = ManualClock()
    inline = InlinePoems(core, window_s=5, debounce_s=0.6, sleep=clock.sleep, clock=clock)
    actor = inline_actor("telegram", "7")
    tasks = []
    for typed in ("春", "春风", "春风得", "春风得意"):
        tasks.append(asyncio.create_task(inline.answer(actor, typed)))
        await clock.advance(0.15)
    await clock.advance(1.0)
    answers = await asyncio.gather(*tasks)
    assert [len(a.offers) for a in answers] == [0, 0, 0, 3]
    assert stored(core) == 3  # one full answer, nothing for the superseded queries
    from bot.chat.actors import Actor

    for n in range(4):  # the user's poem tokens (burst 4) were never touched
        me = Actor("telegram", "7", "7", "me")
        assert (await core.command(me, f"/acrostic {'山水云天'[n]}")).poem_id is not None


async def test_inline_pays_per_poem_written_and_a_cached_answer_is_free(core):
    clock = ManualClock()
    inline = InlinePoems(core, window_s=5, debounce_s=0, clock=clock)
    actor = inline_actor("telegram", "7")
    assert len((await inline.answer(actor, "明月")).offers) == 3  # the bucket's 3 tokens
    assert len((await inline.answer(actor, "明月")).offers) == 3  # cached: free
    (refused,) = (await inline.answer(actor, "清风")).offers  # nothing left to write with
    assert refused.id == "problem" and "秒后再试" in refused.reply.text
    await clock.advance(60)  # a minute refills one full answer
    assert len((await inline.answer(actor, "清风")).offers) == 3
