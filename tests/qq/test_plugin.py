"""The plugin's matchers end to end with nonebug: OneBot v11 events in, the messages the plugin
sends out, over the real core, a real SQLite database and the tiny model."""

from __future__ import annotations

import pytest
from nonebot.adapters.onebot.v11 import Bot
from nonebug import App

from bot.base import messages
from bot.store import queries, sent
from bot.store.models import PoemRequest, Subscription
from tests.qq.events import SELF_ID, Sent, group_event, private_event, reply_to

pytestmark = pytest.mark.adapters


def the_plugin():
    import nonebot

    return nonebot.get_plugin("nonebot_plugin_cangtou")


async def ask(app: App, event, result_id: int | None = 9001, self_id: str = SELF_ID) -> Sent:
    """One event in; expects exactly one message sent back, quoting it."""
    out = Sent()
    async with app.test_matcher() as ctx:
        bot = ctx.create_bot(base=Bot, self_id=self_id)
        ctx.receive_event(bot, event)
        result = None if result_id is None else {"message_id": result_id}
        ctx.should_call_send(event, out, result=result, reply_message=True)
    return out


async def silent(app: App, event) -> None:
    """One event in; nothing may be sent (nonebug fails on an unexpected call)."""
    async with app.test_matcher() as ctx:
        bot = ctx.create_bot(base=Bot, self_id=SELF_ID)
        ctx.receive_event(bot, event)


async def test_the_plugin_declares_onebot_v11_and_registers_its_matchers(app: App):
    plugin = the_plugin()
    assert plugin.metadata.supported_adapters == {"~onebot.v11"}
    assert plugin.metadata.type == "application" and plugin.metadata.config.__name__ == "Config"
    assert plugin.metadata.homepage and "/藏头" in plugin.metadata.usage
    assert {m.module_name for m in plugin.matcher} == {"nonebot_plugin_cangtou.matchers"}
    priorities = sorted((m.priority, m.block) for m in plugin.matcher)
    assert priorities[-1] == (99, False)  # the private-message catch-all: last, never blocking


@pytest.mark.parametrize("text", ["/acrostic 春风", "/藏头 春风", "藏头诗 春风", "／藏头诗 春风"])
async def test_a_poem_in_a_group_quotes_the_request_and_remembers_its_message(app, runtime, text):
    out = await ask(app, group_event(text))
    assert out.types == ["text"]
    title, first, second = out.text.splitlines()[:3]
    assert title.startswith("《春风》") and first[0] == "春" and second[0] == "风"
    assert messages.QQ_REPLY_HINT in out.text
    poem_id = await runtime.core.store(sent.poem_of, "qq", SELF_ID, "9001")
    assert poem_id is not None


async def test_plain_text_in_a_group_is_conversation(app, runtime):
    await silent(app, group_event("春风得意"))
    await silent(app, group_event("/somebody_elses_command 春风"))


async def test_plain_text_in_a_private_chat_is_a_head(app, runtime):
    out = await ask(app, private_event("春风"))
    assert messages.QQ_REPLY_HINT in out.text and "春" in out.text


async def test_a_reply_rates_the_poem_it_quotes(app, runtime):
    await ask(app, group_event("/acrostic 春风", user_id=1001), result_id=7001)
    for text, stars in (("5", 5), ("★4", 4), ("评分 3", 3)):
        out = await ask(app, group_event(text, user_id=1002, reply=reply_to(7001)))
        assert f"★{stars}" in out.text or str(stars) in out.text, out.text
    poem_id = await runtime.core.store(sent.poem_of, "qq", SELF_ID, "7001")
    summary = await runtime.core.store(queries.rating_summary, poem_id)
    assert (summary.count, summary.mean) == (1, 3.0)  # one rater who changed their mind


async def test_a_reply_to_a_message_that_holds_no_poem_is_left_alone(app, runtime):
    await silent(app, group_event("5", reply=reply_to(424242)))
    await silent(app, group_event("5", reply=reply_to(424242, sender_id="777")))


async def test_again_writes_another_poem_on_the_same_head(app, runtime):
    await ask(app, group_event("/acrostic 春风"), result_id=7101)
    out = await ask(app, group_event("再来", reply=reply_to(7101)), result_id=7102)
    assert messages.QQ_REPLY_HINT in out.text and "春" in out.text
    assert await runtime.core.store(sent.poem_of, "qq", SELF_ID, "7102") is not None


async def test_a_card_is_an_image_segment_with_the_text_after_it(app, runtime):
    await ask(app, group_event("/acrostic 春风"), result_id=7201)
    out = await ask(app, group_event("卡片", reply=reply_to(7201)), result_id=7202)
    assert out.types == ["image", "text"]
    image = out.messages[-1][0].data["file"]
    assert image.startswith("base64://") and len(image) > 1000


async def test_a_bad_head_gets_one_friendly_line(app, runtime):
    out = await ask(app, group_event("/acrostic hello"))
    assert out.types == ["text"]
    assert "Traceback" not in out.text and messages.QQ_REPLY_HINT not in out.text
    assert await runtime.core.store(sent.poem_of, "qq", SELF_ID, "9001") is None


async def test_cq_codes_in_a_head_stay_text(app, runtime):
    out = await ask(app, group_event("/acrostic [CQ:at,qq=all]"))
    assert out.types == ["text"]  # never a live @全体成员
    for message in out.messages:
        assert all(segment.type == "text" for segment in message)


async def test_subscribe_needs_a_group_admin(app, runtime):
    out = await ask(app, group_event("/subscribe 08:00", role="member"))
    assert out.text == messages.SUBSCRIBE_CHAT_ADMIN_ONLY
    out = await ask(app, group_event("/subscribe 08:00", user_id=1002, role="admin", self_id="10002"),
                    self_id="10002")  # fmt: skip
    assert "08:00" in out.text

    def via(session):
        return [row.via for row in session.query(Subscription)]

    assert await runtime.core.store(via) == ["10002"]  # the account that received it posts


async def test_bot_admins_are_qq_numbers_in_cangtou_admins(app, runtime):
    out = await ask(app, group_event("/model", user_id=1001))
    assert out.text == messages.NOT_ADMIN
    out = await ask(app, group_event("/model", user_id=99))
    assert out.text != messages.NOT_ADMIN


async def test_over_the_rate_limit_a_user_is_told_to_wait(app, runtime):
    texts = [(await ask(app, group_event(f"/acrostic 春{ch}"))).text for ch in "风月花雨"]
    assert all(messages.QQ_REPLY_HINT in t for t in texts[:3])
    assert "秒" in texts[3] and messages.QQ_REPLY_HINT not in texts[3]
    # said once a window: a flood of refusals would be a flood of group messages
    await silent(app, group_event("/acrostic 春雪"))
    await silent(app, group_event("/acrostic 春水"))

    def statuses(session):
        return [(r.raw_text, r.status.value) for r in session.query(PoemRequest).order_by("id")]

    assert (await runtime.core.store(statuses))[-2:] == [
        ("/acrostic 春雪", "limited"), ("/acrostic 春水", "limited")]  # fmt: skip
