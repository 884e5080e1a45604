"""The real discord.py client against a fake Discord REST + gateway server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib

import discord
import pytest
from sqlalchemy import select

from bot.adapters import discord_adapter
from bot.chat.parsing import to_base36
from bot.chat.replies import Reply
from bot.store.models import PoemRequest, Rating
from tests.conftest import bot_settings
from tests.fake_discord import CHANNEL_ID, FakeDiscord

pytestmark = pytest.mark.adapters


@pytest.fixture
async def fake_discord(monkeypatch):
    server = FakeDiscord()
    await server.start()
    # discord.py reads these two class attributes; patching them is the documented test seam
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.yarl.URL(server.gateway_url),
    )
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def running(core, server: FakeDiscord, **discord_settings):
    discord_settings = {"token": "discord-test", **discord_settings}
    settings = bot_settings(core.settings.database_url, discord=discord_settings)
    options = discord_adapter.sharding(settings)
    client = discord_adapter.build_bot(settings, core, guild_ready_timeout=0.01, **options)
    await client.login("discord-test")
    task = asyncio.create_task(client.connect(reconnect=False))
    await asyncio.wait_for(client.wait_until_ready(), 60)  # shards: discord.py waits 5 s each
    try:
        yield client
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


def rows(core, model):
    with core.db.session() as session:
        return list(session.scalars(select(model)))


def buttons(body: dict) -> list[dict]:
    return [c for row in body.get("components", []) for c in row["components"]]


async def test_slash_command_poem_buttons_click_rating(core, fake_discord):
    async with running(core, fake_discord):
        (sync,) = fake_discord.made("PUT", "/commands")
        names = {c["name"] for c in sync.body}
        assert {"acrostic", "cangtou", "top", "settings"} <= names
        acrostic = next(c for c in sync.body if c["name"] == "acrostic")
        head, form = acrostic["options"][:2]
        assert head["description"].startswith("藏在每句开头的字")
        assert [c["name"] for c in form["choices"]] == ["五言", "七言"]

        token = await fake_discord.slash("acrostic", {"head": "秋水", "form": 5})
        (deferred,) = await fake_discord.wait_for("POST", "/callback")
        assert deferred.body["type"] == 5  # defer() before the slow work
        (followup,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        text = followup.body["content"]
        lines = [line for line in text.splitlines() if line.endswith(("，", "。"))]
        assert [line[0] for line in lines] == ["秋", "水"] and all(len(x) == 6 for x in lines)
        (request,) = rows(core, PoemRequest)
        ids = [b["custom_id"] for b in buttons(followup.body)]
        stars = [f"r:{to_base36(request.id)}:{n}" for n in range(1, 6)]
        assert ids == [*stars, f"a:{to_base36(request.id)}", f"c:{to_base36(request.id)}"]

        message = fake_discord.messages[next(reversed(fake_discord.messages))]
        token = await fake_discord.click(f"r:{to_base36(request.id)}:5", message, user_id=3)
        (edit,) = await fake_discord.wait_for(
            "PATCH", f"/webhooks/7000/{token}/messages/@original"
        )
        assert "评分 5.0★（1 人）" in edit.body["content"]
        (toast,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "★★★★★" in toast.body["content"] and toast.body["flags"] & 64  # ephemeral
        (rating,) = rows(core, Rating)
        assert rating.stars == 5 and rating.request_id == request.id


async def test_buttons_survive_a_restart(core, fake_discord):
    """A poem's buttons work in a client started after the poem was sent (persistent view)."""
    async with running(core, fake_discord):
        token = await fake_discord.slash("cangtou", {"head": "山"})
        (followup,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
    ids = [b["custom_id"] for b in buttons(followup.body)]
    message = fake_discord.messages[next(reversed(fake_discord.messages))]
    async with running(core, fake_discord):  # a new client: no view was ever sent by it
        token = await fake_discord.click(ids[-2], message)  # 🔄
        await fake_discord.wait_for("POST", f"/webhooks/7000/{token}", count=2)
    parent, child = rows(core, PoemRequest)
    assert child.parent_id == parent.id


@pytest.mark.parametrize(
    ("custom_id", "expected"),
    [
        ("r:1:9; DROP TABLE ratings", "这个按钮已失效。"),
        ("r:zz:5", "找不到这首诗（可能已被删除）。"),
        ("c:zz", "找不到这首诗（可能已被删除）。"),
    ],
)
async def test_stale_or_forged_button_gets_a_polite_ephemeral_answer(
    core, fake_discord, custom_id, expected
):
    """Discord only sends ids of buttons on the message: an old or tampered one is still there."""
    button = {"type": 2, "style": 2, "label": "★", "custom_id": custom_id}
    message = fake_discord._message({"components": [{"type": 1, "components": [button]}]})
    async with running(core, fake_discord):
        token = await fake_discord.click(custom_id, message)
        (toast,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert toast.body["content"] == expected and toast.body["flags"] & 64
        assert rows(core, Rating) == []


async def test_bad_head_and_admin_refusal(core, fake_discord):
    async with running(core, fake_discord):
        token = await fake_discord.slash("acrostic", {"head": "hello👋"})
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "不是：h、e、l、o、👋" in reply.body["content"]
        token = await fake_discord.slash("retrain", {}, user_id=5)
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "只有机器人管理员" in reply.body["content"]
        token = await fake_discord.slash("model", {}, user_id=99)
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "当前模型" in reply.body["content"]


@pytest.mark.slow
async def test_sharded_replica_identifies_its_shards_and_serves(core, fake_discord):
    async with running(core, fake_discord, shard_count=4, shard_ids=[1, 3]) as client:
        assert isinstance(client, discord.AutoShardedClient)
        for _ in range(600):
            if len(fake_discord.identifies) == 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(tuple(i["shard"]) for i in fake_discord.identifies) == [(1, 4), (3, 4)]
        token = await fake_discord.slash("acrostic", {"head": "星河"})
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "《星河》" in reply.body["content"]


async def test_echoed_user_text_mentions_nobody(core, fake_discord):
    async with running(core, fake_discord) as client:
        token = await fake_discord.slash(
            "settings", {"change": "@everyone <@&1> <@2> 快来"}, permissions=0x20
        )
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "@everyone" in reply.body["content"]  # echoed, as text only
        token = await fake_discord.slash("acrostic", {"head": "@here"})
        await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        await discord_adapter.sender(client)(str(CHANNEL_ID), Reply("@everyone 每日一诗"))
    sent = [r for r in fake_discord.requests if isinstance(r.body, dict) and r.body.get("content")]
    assert len(sent) >= 3 and any(r.path.startswith("/channels/") for r in sent)
    assert all(r.body.get("allowed_mentions") == {"parse": []} for r in sent), sent


async def test_card_button_sends_the_card_as_an_attachment(core, fake_discord):
    import io

    from PIL import Image

    from bot.cards.render import FontNotFound, find_font, layout

    try:
        find_font()
    except FontNotFound as e:
        pytest.skip(f"no CJK font installed ({e})")
    async with running(core, fake_discord):
        token = await fake_discord.slash("acrostic", {"head": "秋水长天", "form": 7})
        (followup,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        (request,) = rows(core, PoemRequest)
        card = buttons(followup.body)[-1]
        assert (card["label"], card["custom_id"]) == ("🖼 诗笺", f"c:{to_base36(request.id)}")
        message = fake_discord.messages[next(reversed(fake_discord.messages))]
        token = await fake_discord.click(card["custom_id"], message, user_id=3)
        toast, sent = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}", count=2)
        assert toast.body["content"] == "诗笺来了。" and toast.body["flags"] & 64
        assert sent.body["content"] == f"《秋水长天》· 藏头七言 #{to_base36(request.id)}"
        (png,) = sent.files.values()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(png)) as image:
            expected = layout(4, 7)
            assert image.size == (expected.width, expected.height)
            image.verify()


async def test_the_theme_option_of_the_slash_command(core, fake_discord):
    async with running(core, fake_discord):
        (sync,) = fake_discord.made("PUT", "/commands")
        acrostic = next(c for c in sync.body if c["name"] == "acrostic")
        theme = next(o for o in acrostic["options"] if o["name"] == "theme")
        assert theme["description"].startswith("主题") and not theme.get("required")
        token = await fake_discord.slash("acrostic", {"head": "生日快乐", "theme": "祝寿"})
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert reply.body["content"].startswith("《生日快乐》· 主题 祝寿 · 藏头七言\n")
        (request,) = rows(core, PoemRequest)
        assert request.options["theme"] == "祝寿"
        token = await fake_discord.slash("acrostic", {"head": "生日", "theme": "cake🎂"})
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "主题只能是汉字，这些不是：c、a、k、e、🎂" in reply.body["content"]
        token = await fake_discord.slash("settings", {"change": "主题 中秋"}, permissions=0x20)
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert "主题：中秋" in reply.body["content"]
        token = await fake_discord.slash("cangtou", {"head": "明月"})
        (reply,) = await fake_discord.wait_for("POST", f"/webhooks/7000/{token}")
        assert reply.body["content"].startswith("《明月》· 主题 中秋 · ")
