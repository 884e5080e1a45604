"""The one command table: the core's dispatch, /help, Telegram's menu and Discord's slash commands
are all derived from it (a command's user-facing text lives beside it, here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.base import messages
from bot.chat import daily, handlers
from bot.chat.actors import Actor
from bot.chat.core import Core
from bot.chat.parsing import ALIASES, Command
from bot.chat.poem_commands import again, poem, rate
from bot.chat.replies import Reply

Handler = Callable[[Core, Actor, str, str], Awaitable[Reply]]


@dataclass(frozen=True)
class Entry:
    name: str
    handler: Handler
    help: str = ""  # its part of /help ("" for none); parts with the same `line` share a line
    line: int = 0
    telegram: str | None = None  # its description in Telegram's command menu (None: not listed)
    discord: str | None = None  # its slash-command description (None: no slash command)
    slash: str = "plain"  # how Discord asks for arguments: plain, poem, settings or subscribe
    admin: bool = False  # listed in /help's admin line


async def help_(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/help"""
    return Reply(HELP)


async def start(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/start (Telegram's first contact)"""
    return Reply(START)


WRITE_HELP = (
    "/acrostic 或 /cangtou — 写一首（1–12 个汉字，一字一句）\n诗下面的 ★1–★5 给诗打分，🔄 同样的字"
    "再来一首（QQ 没有按钮：回复这首诗 1–5 打分，回复 再来 或 卡片）"
)
TABLE = (
    Entry("acrostic", handlers.acrostic, WRITE_HELP, 1, "写一首藏头诗：/acrostic 算法进阶",
          "写一首藏头诗", "poem"),
    Entry("rate", rate, "/rate [编号] <1-5> — 用文字打分（不写编号就是你最近的一首）", 2),
    Entry("again", again, "/again [编号] — 再来一首", 3),
    Entry("poem", poem, "/poem <编号> — 按编号重现一首诗", 3),
    Entry("top", handlers.top, "/top — 本群评分最高的诗", 4, "本群评分最高的诗", "本群评分最高的诗"),
    Entry("stats", handlers.stats, "/stats — 本群统计", 4, "本群统计", "本群统计"),
    Entry("settings", handlers.settings, "/settings — 本群设置（默认五言/七言、押韵、简繁、创意）", 5,
          "本群设置", "本频道设置", "settings"),
    Entry("subscribe", daily.subscribe, "/subscribe [HH:MM] [五言|七言] — 每天给本群送一首", 6,
          discord="每天在本频道发一首藏头诗", slash="subscribe"),
    Entry("unsubscribe", daily.unsubscribe, "/unsubscribe — 取消（群管理员）", 6,
          discord="取消本频道的每日一诗"),
    Entry("forgetme", handlers.forgetme, "/forgetme — 删除你的全部请求和评分", 7,
          discord="删除我的全部请求和评分"),
    Entry("help", help_, telegram="用法", discord="用法"),
    Entry("start", start),
    Entry("model", handlers.model, discord="（管理员）当前模型", admin=True),
    Entry("retrain", handlers.retrain, discord="（管理员）重新训练", admin=True),
    Entry("rollback", handlers.rollback, discord="（管理员）回滚到上一个模型", admin=True),
)  # fmt: skip
COMMANDS = {entry.name: entry for entry in TABLE}
# every name a chat may type: the table's and its aliases (parse_command resolves them)
NAMES = (*COMMANDS, *(alias for alias in ALIASES if alias.isascii()))


def help_text() -> str:
    lines: dict[int, list[str]] = {}
    for entry in TABLE:
        if entry.help:
            lines.setdefault(entry.line, []).append(entry.help)
    admin = "　".join("/" + e.name for e in TABLE if e.admin)
    body = "\n".join("　".join(parts) for _, parts in sorted(lines.items()))
    return f"{messages.HELP_INTRO}\n{messages.USAGE}\n\n{body}\n{messages.ADMIN_LABEL}{admin}"


HELP = help_text()
START = messages.START_INTRO + "\n\n" + HELP


def telegram_menu() -> list[tuple[str, str]]:
    """(command, description) for Telegram's command menu, in table order."""
    return [(e.name, e.telegram) for e in TABLE if e.telegram]


def discord_commands() -> list[Entry]:
    """The commands Discord offers as slash commands (/cangtou is added beside /acrostic)."""
    return [e for e in TABLE if e.discord]


async def on_command(core: Core, actor: Actor, command: Command, text: str) -> Reply:
    entry = COMMANDS.get(command.name)
    if entry is None:
        return Reply(messages.UNKNOWN_COMMAND.format(name="/" + command.name[:32]))
    return await entry.handler(core, actor, command.args, text)
