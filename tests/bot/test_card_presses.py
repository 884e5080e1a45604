"""🖼 presses (issue 31 item 4): a repeated press is answered from the cache, a new card takes
a token of the user's limits, and cards are drawn in a pool of their own, never the threads the
database calls share."""

from __future__ import annotations

import threading

import pytest

from bot.chat.actors import Actor
from bot.chat.parsing import card_payload

pytestmark = pytest.mark.integration

ALICE = Actor("telegram", "1", "-100", "Alice", "group")
BOB = Actor("telegram", "2", "-100", "Bob", "group")


@pytest.fixture
def drawn(monkeypatch):
    """Cards drawn (the thread each ran on), without needing a CJK font."""
    threads = []

    def fake_render(view, font=None):
        threads.append(threading.current_thread().name)
        return b"PNG" + str(view.poem_id).encode()

    monkeypatch.setattr("bot.chat.card_service.render_card", fake_render)
    return threads


async def test_twenty_presses_of_one_card_draw_it_once_and_cost_one_token(core, drawn):
    poem = await core.command(ALICE, "/acrostic 春风")
    for _ in range(20):
        answer = await core.callback(BOB, card_payload(poem.poem_id))
        assert answer.reply is not None and answer.reply.card == f"PNG{poem.poem_id}".encode()
    assert len(drawn) == 1 and all(name.startswith("cangtou-card") for name in drawn)
    assert (await core.command(BOB, "/acrostic 明月")).poem_id is not None  # tokens left


async def test_new_cards_take_the_users_tokens(core, drawn):
    authors = [Actor("telegram", str(10 + n), f"-{n}", chat_kind="group") for n in range(6)]
    poems = [
        await core.command(a, f"/acrostic {h}")
        for a, h in zip(authors, "山水云天江南", strict=True)
    ]
    bob = [Actor("telegram", "2", f"-{n}", "Bob", "group") for n in range(6)]  # in each chat
    answers = [
        await core.callback(b, card_payload(p.poem_id)) for b, p in zip(bob, poems, strict=True)
    ]
    limited = [a for a in answers if a.reply is None]
    assert limited and limited[0].alert and "秒后再试" in limited[0].toast
    assert len(drawn) == len(answers) - len(limited)


async def test_forgetme_empties_the_card_cache(core, drawn):
    poem = await core.command(ALICE, "/acrostic 春风")
    await core.callback(BOB, card_payload(poem.poem_id))
    assert core.cards.cache
    ask = await core.command(ALICE, "/forgetme")
    await core.callback(ALICE, ask.buttons[0][0].payload)
    assert not core.cards.cache
