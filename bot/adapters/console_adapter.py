"""The console adapter: the same commands and buttons in a terminal (no tokens, no network)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import getpass
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.base import messages
from bot.chat.actors import Actor
from bot.chat.dispatch import Dispatcher
from bot.chat.replies import Reply

PROMPT = "藏头> "
BUTTON_HINT = "（按钮：输入方括号里的内容，例如 {example}）"


def console_actor() -> Actor:
    user = getpass.getuser()
    return Actor("console", user, "console", user_name=user)


def render(reply: Reply) -> str:
    """The reply's text, and its buttons as [label payload] that can be typed back; a card is
    saved as a PNG file, and its path said."""
    if reply.card is not None:
        try:
            saved = messages.CARD_SAVED.format(path=save_card(reply.card, reply.poem_id))
        except OSError as e:  # an unwritable temporary directory: one line, the chat goes on
            saved = messages.CARD_NOT_SAVED.format(reason=e.strerror or type(e).__name__)
        reply = Reply(f"{reply.text}\n{saved}", reply.buttons)
    if not reply.buttons:
        return reply.text
    rows = ["  ".join(f"[{b.label} {b.payload}]" for b in row) for row in reply.buttons]
    example = reply.buttons[0][-1].payload
    return "\n".join([reply.text, *rows, BUTTON_HINT.format(example=example)])


def save_card(png: bytes, poem_id) -> Path:
    """The card in a directory of its own (mkdtemp: private, unpredictable), opened with
    O_EXCL so that nothing planted there (a symlink) is followed."""
    path = Path(tempfile.mkdtemp(prefix="cangtou-card-")) / f"cangtou-{poem_id}.png"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(png)
    return path


async def handle_line(core: Dispatcher, actor: Actor, line: str) -> str:
    """A command, a typed button payload (r:1:5, a:1, c:1, f:0) or plain text (a head)."""
    line = line.strip()
    if not line:
        return ""
    if line[:2] in ("r:", "a:", "c:", "f:"):
        answer = await core.callback(actor, line)
        parts = [answer.toast]
        if answer.reply:
            parts.append(render(answer.reply))
        return "\n".join(parts)
    if not line.startswith(("/", "／")):
        return render(await core.text(actor, line))
    return render(await core.command(actor, line))


async def run_commands(core: Dispatcher, lines: Iterable[str], out: TextIO = sys.stdout) -> None:
    actor = console_actor()
    for line in lines:
        print(f"{PROMPT}{line}", file=out)
        print(await handle_line(core, actor, line), file=out, flush=True)


def line_editing() -> None:
    """Arrow keys, editing and history for input() (GNU readline), kept between sessions in
    $XDG_CACHE_HOME/cangtou/chat_history."""
    try:
        import readline
    except ImportError:  # not every Python has it: plain input still works
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    history = cache / "cangtou" / "chat_history"
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)

    def save() -> None:
        with contextlib.suppress(OSError):
            history.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(history)

    atexit.register(save)


async def repl(core: Dispatcher) -> None:
    """Read commands until EOF or /quit."""
    line_editing()
    actor = console_actor()
    print("cangtou 藏头诗 · 输入 /help 查看命令，/quit 退出，直接输入汉字就是藏头。", flush=True)
    while True:
        try:
            line = await asyncio.to_thread(input, PROMPT)
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line.strip() in ("/quit", "/exit", "/q"):
            return
        print(await handle_line(core, actor, line), flush=True)
