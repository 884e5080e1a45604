"""QQ end to end: `acrostic run` with only a OneBot configuration, started as a subprocess
(nonebot.init is process-global), and fake QQ accounts (tests/fake_onebot.py) that connect over
the loopback with real OneBot v11 JSON."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import pytest

from bot.base import messages
from tests.fake_onebot import FakeOneBot, Refused, plain, text_segment

pytestmark = [pytest.mark.adapters, pytest.mark.slow]
TOKEN = "qq-test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(tmp_path, model_dir, port: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANGTOU_")}
    env.update({"OMP_NUM_THREADS": "1", "CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/qq.db",
                "CANGTOU_MODEL_DIR": str(model_dir), "CANGTOU_ONEBOT__ACCESS_TOKEN": TOKEN,
                "CANGTOU_ONEBOT__PORT": str(port), "CANGTOU_LIMITS__WORKERS": "1",
                "CANGTOU_DAILY__SWEEP_SECONDS": "1", "CANGTOU_ADMINS": "qq:99", **extra})  # fmt: skip
    return env


async def start(env) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", cwd=tmp_cwd(env), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def tmp_cwd(env) -> str:
    return env["CANGTOU_DATABASE_URL"].removeprefix("sqlite:///").rsplit("/", 1)[0]


async def stop(process) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    stderr = err.decode()
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return stderr


async def test_qq_poems_replies_ratings_and_daily_posts_over_onebot(tmp_path, tiny_model_dir):
    port = free_port()
    url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
    env = environment(tmp_path, tiny_model_dir, port)
    process = await start(env)
    qq, second = FakeOneBot(url, TOKEN, 10001), FakeOneBot(url, TOKEN, 10002)
    try:
        with pytest.raises(Refused):  # a wrong access token is refused at the handshake
            await FakeOneBot(url, "wrong-token-0123456789", 10003).connect()
        await qq.connect()
        await second.connect()

        # a CQ code typed as the head: echoed as text, never a live @全体成员
        await qq.group_message("/acrostic [CQ:at,qq=all]")
        call = await qq.next_call()
        assert {s["type"] for s in call["params"]["message"]} <= {"reply", "text"}
        assert "Traceback" not in plain(call["params"]["message"])

        # a poem, quoting the request
        asked = await qq.group_message("藏头诗 春风")
        call = await qq.next_call()
        message = call["params"]["message"]
        assert message[0] == {"type": "reply", "data": {"id": str(asked)}}
        lines = plain(message).splitlines()
        assert lines[0].startswith("《春风》") and lines[1][0] == "春" and lines[2][0] == "风"
        poem_message = qq.sent_id(call)

        # a reply to it rates it: the adapter fetches the quoted message (get_msg) first
        reply = [{"type": "reply", "data": {"id": str(poem_message)}},
                 {"type": "at", "data": {"qq": "10001"}}, text_segment(" 5")]  # fmt: skip
        await qq.group_message(reply, user_id=1002)
        call = await qq.next_call()
        assert "★★★★★" in plain(call["params"]["message"]) or "5" in plain(
            call["params"]["message"]
        )

        # /subscribe through the second account: its daily poem goes out through that one
        await second.group_message("/subscribe 00:00", role="owner", group_id=3001)
        assert "00:00" in plain((await second.next_call())["params"]["message"])
        daily = await second.next_call(timeout=90)
        assert daily["params"].get("group_id") == 3001
        assert [s["type"] for s in daily["params"]["message"]][-1] == "text"
        assert not [c for c in qq.calls if c["action"].startswith("send_")]
    finally:
        await qq.close()
        await second.close()
        await stop(process)

    # after a restart a reply to the same message still reaches its poem: a change of mind
    process = await start(env)
    qq = FakeOneBot(url, TOKEN, 10001)
    try:
        await qq.connect()
        qq.sent[poem_message] = {"message_type": "group", "message": message}
        reply = [{"type": "reply", "data": {"id": str(poem_message)}}, text_segment("评分 3")]
        await qq.group_message(reply, user_id=1002)
        text = plain((await qq.next_call())["params"]["message"])
        assert text.startswith(messages.RERATED.split("{")[0]), text
    finally:
        await qq.close()
        await stop(process)


@pytest.mark.parametrize(
    ("token", "said"),
    [("", "onebot is enabled but CANGTOU_ONEBOT__ACCESS_TOKEN is not set"),
     ("short", "16–256 visible ASCII characters")],
)  # fmt: skip
async def test_without_a_good_access_token_acrostic_run_refuses_to_start(tmp_path, token, said):
    env = environment(tmp_path, tmp_path, free_port(), CANGTOU_ONEBOT__ENABLED="true")
    env["CANGTOU_ONEBOT__ACCESS_TOKEN"] = token
    process = await start(env)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    stderr = err.decode()
    assert process.returncode == 2 and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("error: bad settings: onebot") and said in stderr
    assert token not in stderr or not token


async def test_a_taken_port_is_one_line(tmp_path, tiny_model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await start(environment(tmp_path, tiny_model_dir, port))
        _, err = await asyncio.wait_for(process.communicate(), 60)
    stderr = err.decode()
    assert process.returncode == 2, stderr
    assert stderr.splitlines()[-1].startswith("error: the OneBot server could not listen")
    assert "Traceback" not in stderr
