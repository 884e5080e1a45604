"""Telegram inline mode end to end: the real PTB Application against the fake Bot API server."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.chat.parsing import to_base36
from bot.store.models import Chat, PoemRequest, Rating
from tests.bot.adapters.test_telegram_adapter import rows, running
from tests.conftest import bot_settings
from tests.fakes import FakeBotApi

pytestmark = pytest.mark.adapters
STARS = ["★1", "★2", "★3", "★4", "★5"]


@pytest.fixture
async def fake_api():
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()


def poem_lines(text: str, head: str) -> list[str]:
    """The poem's lines: one a head character, after the title (notes and the footer follow)."""
    return text.splitlines()[1 : 1 + len(head)]


async def chosen_count(core, variant: str, count: float, timeout: float = 5.0) -> None:
    """Waits until the chosen-result counter of `variant` reaches `count`."""
    deadline = time.monotonic() + timeout
    while (
        core.metrics.registry.get_sample_value("cangtou_inline_chosen_total", {"variant": variant})
        != count
    ):
        assert time.monotonic() < deadline, f"chosen {variant} never reached {count}"
        await asyncio.sleep(0.02)


async def test_an_inline_query_offers_three_poems_and_serves_them_again_from_the_cache(
    core, fake_api
):
    async with running(core, fake_api):
        fake_api.inline_query("算法进阶", user_id=7)
        (answer,) = await fake_api.wait_for("answerInlineQuery")
        results = answer.params["results"]
        assert [r["title"] for r in results] == ["七言藏头", "五言藏头", "七言藏尾"]
        stored = rows(core, PoemRequest)
        assert len(stored) == 3 and {r.status for r in stored} == {"ok"}
        assert {(r.options["chars_per_line"], r.options["position"]) for r in stored} == {
            (7, "head"), (5, "head"), (7, "tail"),
        }  # fmt: skip
        by_id = {r.id: r for r in stored}
        for result, chars in zip(results, (7, 5, 7), strict=True):
            assert result["type"] == "article"
            text = result["input_message_content"]["message_text"]
            lines = poem_lines(text, "算法进阶")
            assert all(len(line) == chars + 1 and line[-1] in "，。" for line in lines)
            if result["title"].endswith("藏尾"):
                assert [line[-2] for line in lines] == list("算法进阶")
            else:
                assert [line[0] for line in lines] == list("算法进阶")
            (keyboard,) = result["reply_markup"]["inline_keyboard"]  # the ★ row only
            assert [b["text"] for b in keyboard] == STARS
            poem_id = int(keyboard[4]["callback_data"].split(":")[1], 36)
            assert keyboard[4]["callback_data"] == f"r:{to_base36(poem_id)}:5"
            assert result["id"].endswith("." + to_base36(poem_id))
            assert by_id[poem_id].poem in text.replace("\n", "")
            assert result["description"] == by_id[poem_id].poem
        assert answer.params["cache_time"] == 30 and answer.params["is_personal"] is True
        (chat,) = rows(core, Chat)
        assert chat.kind == "inline" and chat.external_id == "inline:7"

        fake_api.inline_query("算法进阶", user_id=8)  # typed again, by someone else
        second = (await fake_api.wait_for("answerInlineQuery", 2))[-1]
        assert second.params["results"] == results
        assert len(rows(core, PoemRequest)) == 3  # served from the cache: nothing written


@pytest.mark.parametrize(
    ("query", "expected", "code"),
    [
        ("", "藏头为空", "bad_head"),
        ("abc", "不是：a、b、c", "bad_head"),
        ("😀🌸", "😀", "bad_head"),
        ("春\x00风", "只能是汉字", "bad_head"),
        ("诗" * 13, "藏头太长", "bad_head"),
        ("长" * 400, "消息太长", "too_long"),
        ("生日 主题:birthday", "主题只能是汉字", "bad_theme"),
    ],
)
async def test_a_bad_inline_query_gets_one_result_that_explains(
    core, fake_api, query, expected, code
):
    async with running(core, fake_api):
        fake_api.inline_query(query)
        (answer,) = await fake_api.wait_for("answerInlineQuery")
        (result,) = answer.params["results"]
        text = result["input_message_content"]["message_text"]
        assert expected in text and "用法" in text and "Traceback" not in text
        assert expected in result["title"] + result["description"]
        assert answer.params["cache_time"] == 0 and answer.params["is_personal"] is True
        (request,) = rows(core, PoemRequest)
        assert request.status == "rejected" and request.error_code == code
        fake_api.inline_query("好")  # and the bot keeps answering
        second = (await fake_api.wait_for("answerInlineQuery", 2))[-1]
        assert len(second.params["results"]) == 3


async def test_a_chosen_inline_poem_is_counted_and_rated_from_its_inline_message(core, fake_api):
    async with running(core, fake_api):
        fake_api.inline_query("春风", user_id=7)
        (answer,) = await fake_api.wait_for("answerInlineQuery")
        tail = answer.params["results"][2]
        fake_api.choose(tail["id"], "春风", inline_id="im-1", user_id=7)
        await chosen_count(core, "t", 1.0)

        star4 = tail["reply_markup"]["inline_keyboard"][0][3]["callback_data"]
        fake_api.press(star4, None, user_id=8, inline_id="im-1")  # in a chat the bot can't see
        (toast,) = await fake_api.wait_for("answerCallbackQuery")
        assert "★★★★" in toast.params["text"]
        (edit,) = await fake_api.wait_for("editMessageText")
        assert edit.params["inline_message_id"] == "im-1" and "chat_id" not in edit.params
        assert "评分 4.0★（1 人）" in edit.params["text"]
        (keyboard,) = edit.params["reply_markup"]["inline_keyboard"]
        assert [b["text"] for b in keyboard] == STARS
        (rating,) = rows(core, Rating)
        poem_id = int(star4.split(":")[1], 36)
        assert rating.stars == 4 and rating.request_id == poem_id


async def test_inline_buttons_rate_only_poems_written_inline(core, fake_api):
    async with running(core, fake_api):
        fake_api.command("/acrostic 山水", user_id=7, chat_id=-100, chat_type="group")
        await fake_api.wait_for("sendMessage")
        (request,) = rows(core, PoemRequest)
        # another chat's poem (ids are easy to guess), a 🔄 and a 🖼 never offered inline, junk
        for data in (f"r:{to_base36(request.id)}:5", f"a:{to_base36(request.id)}",
                     f"c:{to_base36(request.id)}", "💥"):  # fmt: skip
            fake_api.press(data, None, user_id=8, inline_id="im-2")
        answers = await fake_api.wait_for("answerCallbackQuery", 4)
        texts = sorted(a.params["text"] for a in answers)
        assert texts == ["找不到这首诗（可能已被删除）。"] + ["这个按钮已失效。"] * 3
        assert not rows(core, Rating) and not fake_api.sent("editMessageText")


async def test_inline_queries_pay_per_poem_from_a_bucket_of_their_own(sqlite_url, poet, fake_api):
    from bot.runtime.app import build_core
    from bot.serving.poets import PoetHolder

    limits = {"user_burst": 1, "user_per_minute": 1}
    core = build_core(bot_settings(sqlite_url, limits=limits), PoetHolder(poet=poet))
    try:
        async with running(core, fake_api):
            fake_api.inline_query("春风", user_id=7)  # three poems: the inline bucket's three
            (first,) = await fake_api.wait_for("answerInlineQuery")
            assert len(first.params["results"]) == 3
            fake_api.inline_query("秋月", user_id=7)
            second = (await fake_api.wait_for("answerInlineQuery", 2))[-1]
            (refused,) = second.params["results"]
            assert "写得太快啦" in refused["input_message_content"]["message_text"]
            assert rows(core, PoemRequest)[-1].error_code == "limit_user"
            fake_api.inline_query("春风", user_id=7)  # from the cache: costs nothing
            third = (await fake_api.wait_for("answerInlineQuery", 3))[-1]
            assert third.params["results"] == first.params["results"]
            fake_api.command("/acrostic 明月", user_id=7)  # typing inline spent no command token
            (sent,) = await fake_api.wait_for("sendMessage")
            assert "《明月》" in sent.params["text"]
    finally:
        await core.close()
        core.db.dispose()
