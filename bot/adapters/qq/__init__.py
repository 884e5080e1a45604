"""nonebot_plugin_cangtou: cangtou's 藏头诗 in QQ groups, as a NoneBot2 plugin over OneBot v11.

Installed with `pip install "cangtou[qq]"`; this folder is the import package
`nonebot_plugin_cangtou` (setuptools' package mapping), never imported as bot.adapters.qq. It
calls the same command core as Telegram and Discord; what it translates is OneBot's: events to
the core's Actor, replies to messages (config: .config, matchers: .matchers, the runtime it
starts in a host bot: .service). May import bot.chat, bot.runtime and below."""

from __future__ import annotations

from nonebot import get_driver
from nonebot.plugin import PluginMetadata

from . import matchers as matchers
from .config import Config
from .service import SERVICE

__plugin_meta__ = PluginMetadata(
    name="藏头诗",
    description="写格律严谨、押韵的藏头诗（五言/七言），群友打分，每晚用高分诗再训练",
    usage=(
        "/藏头 算法进阶（或 /acrostic、藏头诗 算法进阶）[五言|七言] [藏尾] [繁] [主题:生日] [意象:杏花,长安]\n"
        "回复一首诗：1–5 打分 · 再来 · 卡片\n"
        "/subscribe 08:00 每天一首（群管理员）　/help 全部命令"
    ),
    type="application",
    homepage="https://github.com/cangtou/cangtou",
    config=Config,
    supported_adapters={"~onebot.v11"},
)

_driver = get_driver()


@_driver.on_startup
async def _start() -> None:
    await SERVICE.start(_driver.config.model_dump())


@_driver.on_shutdown
async def _stop() -> None:
    await SERVICE.stop()
