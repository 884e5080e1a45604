"""The real python-telegram-bot Application against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from sqlalchemy import select

from bot.adapters import telegram_adapter
from bot.chat.parsing import to_base36
from bot.store.models import PoemRequest, Rating
from tests.conftest import bot_settings
from tests.fakes import FakeBotApi, buttons_of

pytestmark = pytest.mark.adapters


@pytest.fixture
async def fake_api():
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()


@contextlib.asynccontextmanager
async def running(core, api: FakeBotApi, **telegram):
    settings = bot_settings(
        core.settings.database_url,
        telegram={"token": api.token, "base_url": api.base_url, **telegram},
    )
    application = telegram_adapter.build_application(settings, core)
    async with application:
        await application.updater.start_polling(poll_interval=0, timeout=5)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


def rows(core, model):
    with core.db.session() as session:
        return list(session.scalars(select(model)))


async def test_command_poem_buttons_rating_round_trip(core, fake_api):
    async with running(core, fake_api):
        fake_api.command(
            "/acrostic@cangtou_bot 春风 五言", user_id=7, chat_id=-100, chat_type="group"
        )
        (sent,) = await fake_api.wait_for("sendMessage")
        text = sent.params["text"]
        lines = [line for line in text.splitlines() if line.endswith(("，", "。"))]
        assert [line[0] for line in lines] == ["春", "风"]
        assert all(len(line) == 6 for line in lines)  # 5 characters + punctuation
        assert "藏头✓ 五言✓" in text
        keyboard = buttons_of(sent)
        assert [b["text"] for b in keyboard[0]] == ["★1", "★2", "★3", "★4", "★5"]
        (request,) = rows(core, PoemRequest)
        assert request.head == "春风" and request.status == "ok" and request.latency_ms > 0
        assert keyboard[0][3]["callback_data"] == f"r:{to_base36(request.id)}:4"
        assert f"#{to_base36(request.id)}" in text

        poem_message = {
            "message_id": 555,
            "date": 0,
            "chat": {"id": -100, "type": "group"},
            "text": text,
        }
        fake_api.press(keyboard[0][3]["callback_data"], poem_message, user_id=8)
        (answer,) = await fake_api.wait_for("answerCallbackQuery")
        assert "★★★★" in answer.params["text"]
        (edit,) = await fake_api.wait_for("editMessageText")
        assert "评分 4.0★（1 人）" in edit.params["text"] and buttons_of(edit) == keyboard
        (rating,) = rows(core, Rating)
        assert rating.stars == 4 and rating.request_id == request.id

        fake_api.press(f"r:{to_base36(request.id)}:2", poem_message, user_id=8)  # a change of mind
        await fake_api.wait_for("answerCallbackQuery", 2)
        (rating,) = rows(core, Rating)
        assert rating.stars == 2


async def test_another_one_button_sends_a_new_poem(core, fake_api):
    async with running(core, fake_api):
        fake_api.command("/cangtou 明月")
        (sent,) = await fake_api.wait_for("sendMessage")
        again = buttons_of(sent)[1][0]["callback_data"]
        message = {"message_id": 9, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
        fake_api.press(again, message)
        await fake_api.wait_for("answerCallbackQuery")
        _, second = await fake_api.wait_for("sendMessage", 2)
        assert "《明月》" in second.params["text"]
        parent, child = rows(core, PoemRequest)
        assert child.parent_id == parent.id and child.options["mode"] == "sample"


@pytest.mark.parametrize(
    "data", ["r:zzzzzzzzzzz:5", "r:1:9", "x", "", "r:1", "a:1:3", "f:1", "r:-1:5", "💥"]
)
async def test_forged_callback_data_is_answered_politely(core, fake_api, data):
    async with running(core, fake_api):
        message = {"message_id": 9, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
        fake_api.press(data, message)
        (answer,) = await fake_api.wait_for("answerCallbackQuery")
        assert answer.params["text"] == "这个按钮已失效。"
        assert not fake_api.sent("editMessageText") and not rows(core, Rating)


async def test_rating_a_poem_that_does_not_exist(core, fake_api):
    async with running(core, fake_api):
        message = {"message_id": 9, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
        fake_api.press("r:zz:5", message)
        (answer,) = await fake_api.wait_for("answerCallbackQuery")
        assert answer.params["text"] == "找不到这首诗（可能已被删除）。"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/acrostic", "藏头为空"),
        ("/acrostic abc", "不是：a、b、c"),
        ("/acrostic 😀🌸", "😀"),
        ("/acrostic " + "诗" * 100, "藏头太长"),
        ("/acrostic " + "长" * 4000, "消息太长"),
        ("/nosuch", "不认识这个命令"),
    ],
)
async def test_bad_input_gets_a_clear_reply_and_is_stored(core, fake_api, text, expected):
    async with running(core, fake_api):
        fake_api.command(text)
        (sent,) = await fake_api.wait_for("sendMessage")
        assert expected in sent.params["text"] and "Traceback" not in sent.params["text"]
        if text.startswith("/acrostic"):
            (request,) = rows(core, PoemRequest)
            assert request.status == "rejected" and request.poem is None
        fake_api.command("/acrostic 好")  # and the bot keeps serving
        await fake_api.wait_for("sendMessage", 2)
        assert "《好》" in fake_api.sent("sendMessage")[1].params["text"]


async def test_admin_commands_refused_for_others(core, fake_api):
    async with running(core, fake_api):
        fake_api.command("/retrain", user_id=5)
        fake_api.command("/model", user_id=99)
        sent = await fake_api.wait_for("sendMessage", 2)
        by_chat = {c.params["chat_id"]: c.params["text"] for c in sent}
        assert "只有机器人管理员" in by_chat[5]
        assert "当前模型" in by_chat[99]


async def test_group_settings_need_a_chat_admin(core, fake_api):
    fake_api.members[(-5, 2)] = "administrator"
    async with running(core, fake_api):
        fake_api.command("/settings 五言", user_id=1, chat_id=-5, chat_type="group")
        (sent,) = await fake_api.wait_for("sendMessage")
        assert "只有群管理员" in sent.params["text"]
        fake_api.command("/settings 五言", user_id=2, chat_id=-5, chat_type="group")
        await fake_api.wait_for("sendMessage", 2)
        fake_api.command("/acrostic 山水", user_id=1, chat_id=-5, chat_type="group")
        sent = (await fake_api.wait_for("sendMessage", 3))[-1]
        assert "藏头五言" in sent.params["text"]


async def test_webhook_mode_rejects_a_wrong_secret(core, fake_api, unused_tcp_port, monkeypatch):
    import hmac

    compared = []  # a spy on the real comparison: our own check must be the constant-time one

    def compare_digest(given, expected):
        compared.append(given)
        return real(given, expected)

    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    settings = bot_settings(
        core.settings.database_url,
        telegram={
            "token": fake_api.token,
            "base_url": fake_api.base_url,
            "mode": "webhook",
            "webhook_url": "https://example.invalid/telegram",
            "webhook_port": unused_tcp_port,
            "webhook_secret": "s3cret",
        },
    )
    application = telegram_adapter.build_application(settings, core)
    await telegram_adapter.start(application, settings)
    try:
        (hook,) = fake_api.sent("setWebhook")
        assert hook.params["secret_token"] == "s3cret"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 3, "type": "private"},
                "from": {"id": 3, "is_bot": False, "first_name": "Wang Wei"},
                "text": "/acrostic 山",
                "entities": [{"type": "bot_command", "offset": 0, "length": 9}],
            },
        }
        url = f"http://127.0.0.1:{unused_tcp_port}/telegram"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update) as response:
                assert response.status == 403
            wrong = {"X-Telegram-Bot-Api-Secret-Token": "s3crex"}
            async with http.post(url, json=update, headers=wrong) as response:
                assert response.status == 403
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            for not_an_update in ([], "x", {}, {"update_id": "1"}, 3):  # with the right secret
                async with http.post(url, json=not_an_update, headers=headers) as response:
                    assert response.status == 400, not_an_update
            async with http.post(url, data=b"{", headers=headers) as response:
                assert response.status == 400  # not JSON at all
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 200
        (sent,) = await fake_api.wait_for("sendMessage")
        assert "《山》" in sent.params["text"]
        assert compared == [b"", b"s3crex", *[b"s3cret"] * 7]  # every check in constant time
    finally:
        await telegram_adapter.stop(application)
    await asyncio.sleep(0)


async def test_a_channel_subscribes_with_a_channel_post(core, fake_api):
    async with running(core, fake_api):
        fake_api.push(
            {
                "channel_post": {
                    "message_id": 3,
                    "date": 0,
                    "chat": {"id": -1001, "type": "channel", "title": "诗刊"},
                    "sender_chat": {"id": -1001, "type": "channel", "title": "诗刊"},
                    "text": "/subscribe 07:30 五言",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 10}],
                }
            }
        )
        (sent,) = await fake_api.wait_for("sendMessage")
        assert sent.params["chat_id"] == -1001
        assert sent.params["text"].startswith("已订阅：每天 07:30")


async def test_an_edited_command_does_not_write_another_poem(core, fake_api):
    async with running(core, fake_api):
        fake_api.command("/acrostic 春")
        await fake_api.wait_for("sendMessage")
        edited = {"message_id": 1, "date": 0, "edit_date": 1, "text": "/acrostic 秋",
                  "chat": {"id": 1, "type": "private"},
                  "from": {"id": 1, "is_bot": False, "first_name": "Li"},
                  "entities": [{"type": "bot_command", "offset": 0, "length": 9}]}  # fmt: skip
        fake_api.push({"edited_message": edited})
        fake_api.command("/help")
        sent = await fake_api.wait_for("sendMessage", 2)
        assert "《秋》" not in "".join(c.params["text"] for c in sent)
        assert len(rows(core, PoemRequest)) == 1


async def test_plain_text_in_a_private_chat_is_a_head(core, fake_api):
    async with running(core, fake_api):
        fake_api.command("天 涯", user_id=4)  # no command: the text is the head
        (sent,) = await fake_api.wait_for("sendMessage")
        assert "《天涯》" in sent.params["text"] and buttons_of(sent)
        fake_api.command("你好 hello", user_id=4)
        second = (await fake_api.wait_for("sendMessage", 2))[-1]
        assert "只能是汉字" in second.params["text"]
        fake_api.command("大家好", user_id=4, chat_id=-7, chat_type="group")  # conversation
        fake_api.command("/help", user_id=4, chat_id=-7, chat_type="group")
        third = (await fake_api.wait_for("sendMessage", 3))[-1]
        assert third.params["chat_id"] == -7 and "我会写藏头诗" in third.params["text"]
        assert len(fake_api.sent("sendMessage")) == 3
    stored = rows(core, PoemRequest)
    assert [(r.head, r.status) for r in stored] == [("天涯", "ok"), (None, "rejected")]


def png_size(data: bytes) -> tuple[int, int]:
    """The size of a valid PNG (checksums verified)."""
    import io

    from PIL import Image

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def needs_a_card_font():
    import os

    from bot.cards.render import FontNotFound, find_font

    try:
        find_font()
    except FontNotFound as e:
        if os.environ.get("CI"):  # .ci/run installs fonts-noto-cjk: CI never skips these
            pytest.fail(f"CI has no CJK font: {e}")
        pytest.skip(f"no CJK font installed ({e})")


async def test_card_button_sends_the_poem_card_as_a_photo(core, fake_api):
    from bot.cards.render import layout

    needs_a_card_font()
    async with running(core, fake_api):
        fake_api.command("/acrostic 春风秋月 五言", user_id=7, chat_id=-100, chat_type="group")
        (sent,) = await fake_api.wait_for("sendMessage")
        (request,) = rows(core, PoemRequest)
        card = buttons_of(sent)[1][1]
        assert card == {"text": "🖼 诗笺", "callback_data": f"c:{to_base36(request.id)}"}
        message = {"message_id": 5, "date": 0, "chat": {"id": -100, "type": "group"}, "text": "x"}
        fake_api.press(card["callback_data"], message, user_id=8)  # anyone in the chat
        (photo,) = await fake_api.wait_for("sendPhoto")
        assert photo.params["chat_id"] == -100
        assert photo.params["caption"] == f"《春风秋月》· 藏头五言 #{to_base36(request.id)}"
        expected = layout(4, 5)
        assert png_size(photo.params["photo"]) == (expected.width, expected.height)
        (answer,) = await fake_api.wait_for("answerCallbackQuery")
        assert answer.params["text"] == "诗笺来了。"


@pytest.mark.parametrize("data", ["c:zz", "c:{id}"])
async def test_a_forged_or_foreign_card_button_finds_no_poem(core, fake_api, data):
    async with running(core, fake_api):
        fake_api.command("/acrostic 山水", user_id=7, chat_id=-100, chat_type="group")
        await fake_api.wait_for("sendMessage")
        (request,) = rows(core, PoemRequest)
        # another user, in another chat, with the poem's real id (ids are easy to guess)
        message = {"message_id": 9, "date": 0, "chat": {"id": 8, "type": "private"}, "text": "x"}
        fake_api.press(data.format(id=to_base36(request.id)), message, user_id=8)
        (answer,) = await fake_api.wait_for("answerCallbackQuery")
        assert answer.params["text"] == "找不到这首诗（可能已被删除）。"
        assert not fake_api.sent("sendPhoto")


async def test_a_card_is_sent_with_its_text_as_caption_and_rated_there(core, fake_api):
    """A daily post is a photo: its ★ buttons edit the caption, since it has no text."""
    from bot.chat.replies import Reply

    needs_a_card_font()
    async with running(core, fake_api) as application:
        fake_api.command("/acrostic 明月")
        (sent,) = await fake_api.wait_for("sendMessage")
        (request,) = rows(core, PoemRequest)
        png = (await core.callback(_actor(), f"c:{to_base36(request.id)}")).reply.card
        post = Reply("【每日一诗】\n" + sent.params["text"], (), request.id, card=png)
        await telegram_adapter.sender(application)("-3", post)
        (photo,) = await fake_api.wait_for("sendPhoto")
        assert photo.params["chat_id"] == -3 and photo.params["caption"].startswith("【每日一诗】")
        assert photo.params["photo"] == png
        message = {"message_id": 12, "date": 0, "chat": {"id": 1, "type": "private"},
                   "photo": [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}],
                   "caption": "x"}  # fmt: skip
        fake_api.press(f"r:{to_base36(request.id)}:5", message)
        (edit,) = await fake_api.wait_for("editMessageCaption")
        assert "评分 5.0★（1 人）" in edit.params["caption"]
        assert not fake_api.sent("editMessageText")


def _actor():
    from bot.chat.actors import Actor

    return Actor("telegram", "1", "1")


async def test_a_theme_is_written_stored_shown_and_set_as_the_chat_default(core, fake_api):
    fake_api.members[(-30, 2)] = "administrator"
    async with running(core, fake_api):
        fake_api.command("/acrostic 生日快乐 主题:祝寿", user_id=2, chat_id=-30, chat_type="group")
        (sent,) = await fake_api.wait_for("sendMessage")
        assert sent.params["text"].startswith("《生日快乐》· 主题 祝寿 · 藏头七言\n")
        (request,) = rows(core, PoemRequest)
        assert request.options["theme"] == "祝寿" and request.status == "ok"

        fake_api.command("/acrostic 生日 主题:birthday", user_id=2, chat_id=-30, chat_type="group")
        bad = (await fake_api.wait_for("sendMessage", 2))[-1]
        assert "主题只能是汉字" in bad.params["text"] and "用法" in bad.params["text"]
        assert rows(core, PoemRequest)[-1].error_code == "bad_theme"

        fake_api.command("/settings 主题 中秋", user_id=2, chat_id=-30, chat_type="group")
        saved = (await fake_api.wait_for("sendMessage", 3))[-1]
        assert "已保存" in saved.params["text"] and "主题：中秋" in saved.params["text"]
        fake_api.command("/acrostic 明月", user_id=3, chat_id=-30, chat_type="group")
        themed = (await fake_api.wait_for("sendMessage", 4))[-1]
        assert themed.params["text"].startswith("《明月》· 主题 中秋 · ")
        assert rows(core, PoemRequest)[-1].options["theme"] == "中秋"

        fake_api.command("/settings 主题 moon", user_id=2, chat_id=-30, chat_type="group")
        refused = (await fake_api.wait_for("sendMessage", 5))[-1]
        assert (
            "主题只能是汉字" in refused.params["text"]
            and "/settings 主题" in refused.params["text"]
        )
        fake_api.command("/settings 主题 关", user_id=2, chat_id=-30, chat_type="group")
        cleared = (await fake_api.wait_for("sendMessage", 6))[-1]
        assert "主题：（藏头字本身）" in cleared.params["text"]


async def test_over_the_limit_is_said_once_not_once_a_message(sqlite_url, poet, fake_api):
    """A flood of commands got one refusal message each (Telegram rate-limits such a bot in a
    group); now the user is told once when to come back, and the rest are only recorded."""
    import time

    from bot.runtime.app import build_core
    from bot.serving.poets import PoetHolder

    limits = {"user_burst": 2, "user_per_minute": 1}  # no refill during the test
    core = build_core(bot_settings(sqlite_url, limits=limits), PoetHolder(poet=poet))
    try:
        async with running(core, fake_api):
            for head in ("春风", "明月", "山水", "江河", "云霞"):
                fake_api.command(f"/acrostic {head}", user_id=9, chat_id=-300, chat_type="group")
            deadline = time.monotonic() + 60
            while len(rows(core, PoemRequest)) < 5 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # any message for the last request would be out by now
        statuses = [r.status.value for r in rows(core, PoemRequest)]
        assert sorted(statuses) == ["limited", "limited", "limited", "ok", "ok"]
        texts = [c.params["text"] for c in fake_api.sent("sendMessage")]
        assert len(texts) == 3 and sum("写得太快啦" in t for t in texts) == 1
    finally:
        await core.close()
        core.db.dispose()
