"""Inside a host NoneBot2 bot: the plugin takes its settings from the host's config (.env) and
starts its own runtime at the driver's startup, each part switchable; stops it at shutdown."""

from __future__ import annotations

import pytest
from nonebot.adapters.onebot.v11 import Bot
from nonebot.config import Config as NoneBotConfig
from nonebug import App

from bot.base import messages
from tests.qq.events import SELF_ID, Sent, group_event

pytestmark = pytest.mark.adapters


def test_the_hosts_env_file_maps_onto_cangtous_settings(tmp_path):
    from nonebot_plugin_cangtou.config import settings_from

    env = tmp_path / ".env"
    env.write_text("CANGTOU_DATABASE_URL=sqlite:///x.db\nCANGTOU_LIMITS__PROCESSES=false\n"
                   "CANGTOU_LIMITS__USER_BURST=2\nCANGTOU_ADMINS=qq:1,qq:2\n"
                   "CANGTOU_SCHEDULER=false\nCANGTOU_AUTO_MIGRATE=false\nSUPERUSERS=[\"1\"]\n",
                   encoding="utf-8")  # fmt: skip
    settings = settings_from(NoneBotConfig(_env_file=env).model_dump())
    assert settings.database_url == "sqlite:///x.db" and settings.admins == ["qq:1", "qq:2"]
    assert (settings.limits.processes, settings.limits.user_burst) == (False, 2)
    assert settings.scheduler is False and settings.auto_migrate is False
    flat = settings_from({"cangtou_limits__workers": 3, "cangtou_limits": {"user_burst": 5}})
    assert (flat.limits.workers, flat.limits.user_burst) == (3, 5)


async def test_the_plugin_starts_and_stops_its_own_runtime(app: App, tmp_path, tiny_model_dir):
    from nonebot_plugin_cangtou.service import SERVICE

    config = {"cangtou_database_url": f"sqlite:///{tmp_path}/host.db",
              "cangtou_model_dir": str(tiny_model_dir), "cangtou_limits": {"processes": False},
              "cangtou_scheduler": False, "cangtou_models_dir": str(tmp_path / "models")}  # fmt: skip
    assert SERVICE.core is None
    out = Sent()
    async with app.test_matcher() as ctx:  # before the runtime is up: said so, nothing lost
        bot = ctx.create_bot(base=Bot, self_id=SELF_ID)
        event = group_event("/藏头 春风")
        ctx.receive_event(bot, event)
        ctx.should_call_send(event, out, result={"message_id": 1}, reply_message=True)
    assert out.text == messages.QQ_NOT_READY
    await SERVICE.start(config)
    try:
        assert SERVICE.services.scheduler is None  # CANGTOU_SCHEDULER=false
        assert SERVICE.core.settings.limits.processes is False
        async with app.test_matcher() as ctx:
            bot = ctx.create_bot(base=Bot, self_id=SELF_ID)
            event = group_event("/藏头 春风")
            ctx.receive_event(bot, event)
            ctx.should_call_send(event, out, result={"message_id": 2}, reply_message=True)
        assert out.text.startswith("《春风》") and messages.QQ_REPLY_HINT in out.text
    finally:
        await SERVICE.stop()
    assert SERVICE.core is None and SERVICE.runtime is None


async def test_a_daily_post_goes_through_its_account_or_another_connected_one(app, runtime):
    """Through the account that received /subscribe; when it is offline, through another
    connected one rather than surely not at all. The message is remembered per account."""
    from nonebot_plugin_cangtou.service import Recording, qq_sender

    from bot.chat.actors import Actor
    from bot.chat.replies import Reply
    from bot.store import sent

    poem = await runtime.core.command(
        Actor("qq", "1", "group:3001", via="10002"), "/acrostic 春风"
    )
    send = qq_sender(runtime.core, Recording())
    cases = ((("10001", "10002"), "10002", 77), (("10001",), "10002", 78))
    for connected, via, message_id in cases:
        async with app.test_matcher() as ctx:
            for self_id in connected:
                ctx.create_bot(base=Bot, self_id=self_id)
            ctx.should_call_api(
                "send_msg",
                {"message_type": "group", "group_id": 3001, "message": Sent()},
                result={"message_id": message_id},
            )
            await send("group:3001", Reply(poem.text, poem_id=poem.poem_id), via=via)
    assert await runtime.core.store(sent.poem_of, "qq", "10002", "77") == poem.poem_id
    assert await runtime.core.store(sent.poem_of, "qq", "10001", "78") == poem.poem_id
    with pytest.raises(ValueError):
        await send("group:not-a-number", Reply("x"))


async def test_a_reply_waits_for_the_poem_message_being_recorded():
    """A reply can arrive before the row saying which poem the quoted message holds (QQ users
    answer fast; CI caught it): `settled` returns once every send under way is recorded."""
    import asyncio

    from nonebot_plugin_cangtou.service import Recording

    recording, order = Recording(), []
    await asyncio.wait_for(recording.settled("group:1"), 1)  # nothing under way: at once

    async def send_and_record():
        async with recording.sending("group:1"):
            await asyncio.sleep(0.2)
            order.append("recorded")

    async def reply():
        await asyncio.sleep(0.05)  # arrives while the send is under way
        await recording.settled("group:1")
        order.append("looked up")

    await asyncio.gather(send_and_record(), reply())
    assert order == ["recorded", "looked up"]

    async def stuck():
        async with recording.sending("group:1"):
            await asyncio.sleep(30)

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(recording.settled("group:2"), 0.05)  # another chat: never waits
    await asyncio.wait_for(recording.settled("group:1", timeout=0.1), 5)  # delays, not blocks
    task.cancel()
