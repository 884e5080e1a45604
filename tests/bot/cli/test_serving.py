"""`acrostic chat`, `acrostic db`, `acrostic run` and the alembic CLI, as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import REPO_ROOT

pytestmark = pytest.mark.unit

ROOT = REPO_ROOT


def run(*args, env=None, program=(sys.executable, "-m", "bot.cli"), cwd=None):
    unset = ("CANGTOU_TELEGRAM__TOKEN", "CANGTOU_DISCORD__TOKEN", "DATABASE_URL")
    environment = {k: v for k, v in os.environ.items() if k not in unset}  # only what env sets
    environment.update({"OMP_NUM_THREADS": "1", **(env or {})})
    return subprocess.run(
        [*program, *args], capture_output=True, text=True, env=environment, timeout=120,
        cwd=cwd or ROOT,
    )  # fmt: skip


@pytest.mark.slow
def test_chat_commands_rating_and_the_stored_request(tmp_path, tiny_model_dir):
    env = {"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/chat.db",
           "CANGTOU_MODEL_DIR": str(tiny_model_dir)}  # fmt: skip
    res = run("chat", "-c", "/acrostic 春风 五言", "-c", "/rate 4", "-c", "/acrostic 🙂", env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "藏头> /acrostic 春风 五言" in out and "《春风》· 藏头五言" in out
    assert "[★5 r:1:5]" in out and "已记下 ★★★★" in out and "😀" not in out
    assert "不是：🙂" in out and "Traceback" not in out + res.stderr
    stored = run("db", "requests", "--json", env=env)
    newest, oldest = [json.loads(line) for line in stored.stdout.splitlines()]
    assert (oldest["head"], oldest["status"], oldest["ratings"], oldest["mean_stars"]) == (
        "春风", "ok", 1, 4.0)  # fmt: skip
    assert (newest["status"], newest["error_code"]) == ("rejected", "bad_head")


@pytest.mark.slow
def test_run_without_tokens_is_one_clear_line(tmp_path):
    res = run("run", env={"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert res.returncode == 2
    assert res.stderr.startswith("error: no adapter configured") and "Traceback" not in res.stderr


@pytest.mark.slow
def test_bad_settings_are_one_clear_line(tmp_path):
    res = run("chat", "-c", "/help", env={"CANGTOU_ADMINS": "root"})
    assert res.returncode == 2 and res.stderr.startswith("error: bad settings: admins")


@pytest.mark.slow
def test_db_upgrade_and_the_alembic_cli_agree(tmp_path):
    env = {"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}
    res = run("db", "upgrade", env=env)
    assert res.returncode == 0 and "database at revision 0008" in res.stdout, res.stderr
    alembic = (sys.executable, "-m", "alembic")
    check = run("check", env=env, program=alembic)  # [tool.alembic] in pyproject.toml
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


@pytest.mark.slow
def test_models_list_promote_rollback(tmp_path, tiny_model_dir):
    import shutil

    from engine.checkpoint import load_model_dir, resave

    root = tmp_path / "models"
    for version in ("tiny-a", "tiny-b"):
        shutil.copytree(tiny_model_dir, root / version)
        resave(load_model_dir(root / version), {"version": version})
    env = {"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/m.db", "CANGTOU_MODELS_DIR": str(root),
           "CANGTOU_MODEL_DIR": str(root / "tiny-a")}  # fmt: skip
    listed = run("models", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].startswith("* tiny-a")
    promoted = run("models", "promote", "tiny-b", env=env)
    assert promoted.stdout.strip() == "serving tiny-b (was tiny-a)", promoted.stderr
    assert (root / "CURRENT").read_text().strip() == "tiny-b"
    bad = run("models", "promote", "no-such-version", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: no-such-version")
    rolled = run("models", "rollback", env=env)
    assert rolled.stdout.strip() == "rolled back: tiny-b → tiny-a", rolled.stderr
    rows = [json.loads(x) for x in run("models", "list", "--json", env=env).stdout.splitlines()]
    assert {r["version"]: r["status"] for r in rows} == {
        "tiny-a": "current",
        "tiny-b": "rolled_back",
    }


@pytest.mark.slow
def test_retrain_without_a_corpus_is_one_clear_line(tmp_path):
    env = {"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/r.db",
           "CANGTOU_RETRAIN__CORPUS_DIR": str(tmp_path / "nothing")}  # fmt: skip
    res = run("retrain", env=env)
    assert res.returncode == 2 and "acrostic corpus build" in res.stderr


def rate_by_two_others(url: str) -> None:
    """Two group members other than the console user rate every stored poem 5★."""
    from sqlalchemy import select

    from bot.store.models import PoemRequest, Rating, User
    from bot.store.session import Database

    db = Database(url)
    with db.session() as s:
        raters = [User(platform="telegram", external_id=str(n)) for n in (1, 2)]
        s.add_all(raters)
        s.flush()
        for request_id in s.scalars(select(PoemRequest.id)):
            s.add_all(Rating(request_id=request_id, user_id=u.id, stars=5) for u in raters)
    db.dispose()


@pytest.mark.slow
def test_console_admin_retrains_and_the_next_chat_serves_the_new_model(
    tmp_path, tiny_model_dir, corpus_dir
):
    env = {
        "CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "CANGTOU_MODEL_DIR": str(tiny_model_dir),
        "CANGTOU_MODELS_DIR": str(tmp_path / "models"), "CANGTOU_RETRAIN__CORPUS_DIR": str(corpus_dir),
        "CANGTOU_RETRAIN__MAX_MINUTES": "0.4", "CANGTOU_RETRAIN__EVAL_MINUTES": "5",
        "CANGTOU_RETRAIN__TOKENS_PER_BATCH": "512", "CANGTOU_RETRAIN__EVAL_HEADS": "3",
        "CANGTOU_RETRAIN__MARGIN": "100", "CANGTOU_RETRAIN__COMPLIANCE_DROP": "1",
        "CANGTOU_RETRAIN__SHARED_TRIGRAM_RISE": "1", "CANGTOU_RETRAIN__REPEAT_RISE": "100",
        "CANGTOU_RETRAIN__THEME_INFORMATION_DROP": "100", "CANGTOU_RETRAIN__MIN_GAIN": "0",
        "CANGTOU_RETRAIN__LR": "0.003", "CANGTOU_RETRAIN__MAX_STEPS": "60",
    }  # fmt: skip
    asked = run("chat", "-c", "/acrostic 春风", env=env)
    assert asked.returncode == 0, asked.stderr
    rate_by_two_others(f"sqlite:///{tmp_path}/c.db")  # something to learn from
    first = run("chat", "-c", "/retrain", env=env)
    assert first.returncode == 0 and "已开始重新训练" in first.stdout, first.stderr
    second = run("chat", "-c", "/retrain status", "-c", "/acrostic 春风", env=env)
    assert "第 1 次重新训练：promoted" in second.stdout, second.stdout + second.stderr
    (version,) = [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith("cangtou-")]
    assert f"模型 {version}" in second.stdout  # the poem names the version that wrote it


@pytest.mark.slow
def test_db_requests_shows_the_base36_id_that_poem_takes(tmp_path, tiny_model_dir):
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path}/ids.db"
    env = {"CANGTOU_DATABASE_URL": url, "CANGTOU_MODEL_DIR": str(tiny_model_dir)}
    assert run("db", "upgrade", env=env).returncode == 0
    engine = create_engine(url)  # 45 earlier requests: the next poem is row 46, "#1a"
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id, platform, external_id, name, created_at)"
                                " VALUES (1, 'x', '1', '', '2026-01-01')"))  # fmt: skip
        connection.execute(text("INSERT INTO chats (id, platform, external_id, kind, title, "
                                "created_at) VALUES (1, 'x', '1', 'private', '', '2026-01-01')"))  # fmt: skip
        connection.execute(text("INSERT INTO poem_requests (id, user_id, chat_id, raw_text, "
                                "options, status, created_at) VALUES (45, 1, 1, '', '{}', "
                                "'rejected', '2026-01-01')"))  # fmt: skip
    engine.dispose()
    assert run("chat", "-c", "/acrostic 春风", env=env).returncode == 0
    shown = run("db", "requests", "--limit", "1", env=env).stdout
    assert shown.startswith("#1a "), shown
    (record,) = [json.loads(x) for x in run("db", "requests", "--json", "--limit", "1", env=env)
                 .stdout.splitlines()]  # fmt: skip
    assert record["id"] == "1a"
    again = run("chat", "-c", f"/poem {record['id']}", env=env)
    assert "按 #1a 的参数重写" in again.stdout and "结果与原诗一致：是" in again.stdout, (
        again.stdout
    )


@pytest.mark.slow
async def test_a_rejected_token_is_one_line_without_the_token(tmp_path, tiny_model_dir):
    import asyncio

    from tests.fakes import FakeBotApi

    api = FakeBotApi()  # knows only its own token: ours gets 401 Unauthorized
    await api.start()
    token = "123456:AAHrejectedrejected"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
           "CANGTOU_MODEL_DIR": str(tiny_model_dir), "CANGTOU_TELEGRAM__TOKEN": token,
           "CANGTOU_TELEGRAM__BASE_URL": api.base_url}  # fmt: skip
    env.pop("CANGTOU_DISCORD__TOKEN", None)
    try:
        for verbose in ([], ["-v"]):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", *verbose, cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await asyncio.wait_for(process.communicate(), 120)
            stderr = err.decode()
            assert process.returncode == 2, stderr
            assert stderr.splitlines()[-1] == (
                "error: Telegram rejected CANGTOU_TELEGRAM__TOKEN (Unauthorized)"
            )
            assert token not in stderr and "AAHrejected" not in stderr
            assert "Traceback" not in stderr and (verbose or len(stderr.splitlines()) == 1)
        assert "«redacted»" in stderr  # the -v run logged the Bot API URL, redacted
    finally:
        await api.stop()


@pytest.mark.slow
def test_models_list_shows_the_test_number_from_model_json(tmp_path, tiny_model_dir):
    from engine.checkpoint import read_meta

    nats = read_meta(tiny_model_dir)["metrics"]["test_nats_per_char"]
    env = {"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/l.db",
           "CANGTOU_MODELS_DIR": str(tmp_path / "models"),
           "CANGTOU_MODEL_DIR": str(tiny_model_dir)}  # fmt: skip
    listed = run("models", "list", env=env)
    (line,) = listed.stdout.splitlines()  # the served model, never recorded in the database
    assert line.startswith("* tiny ") and f"test {nats} " in line, listed.stdout + listed.stderr
    (record,) = [
        json.loads(x) for x in run("models", "list", "--json", env=env).stdout.splitlines()
    ]
    assert record["test_nats_per_char"] == nats


@pytest.mark.slow
def test_webhook_mode_without_a_secret_refuses_to_start(tmp_path):
    env = {"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/w.db", "CANGTOU_TELEGRAM__TOKEN": "1:a",
           "CANGTOU_TELEGRAM__MODE": "webhook",
           "CANGTOU_TELEGRAM__WEBHOOK_URL": "https://bot.example/telegram"}  # fmt: skip
    res = run("run", env=env)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
    assert res.stderr.startswith("error: bad settings: telegram")
    assert "CANGTOU_TELEGRAM__WEBHOOK_SECRET" in res.stderr


@pytest.mark.slow
def test_chat_has_line_editing_and_history(tmp_path, tiny_model_dir):
    """In a terminal, ↑ recalls the last line (arrow keys typed escape codes before)."""
    import pty
    import select
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
           "CANGTOU_MODEL_DIR": str(tiny_model_dir), "TERM": "xterm"}  # fmt: skip
    env.pop("CANGTOU_TELEGRAM__TOKEN", None)

    def session(*keys: bytes) -> str:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the chat, in the terminal
            os.chdir(ROOT)
            os.execvpe(sys.executable, [sys.executable, "-m", "bot.cli", "chat"], env)
        out = b""

        def read_until(marker: bytes, seconds: float = 60) -> None:
            nonlocal out
            deadline = time.monotonic() + seconds
            while out.count(marker) < want[0] and time.monotonic() < deadline:
                if select.select([fd], [], [], 0.5)[0]:
                    try:
                        out += os.read(fd, 4096)
                    except OSError:
                        return

        want = [1]
        read_until("藏头> ".encode())
        for key in keys:
            want[0] += 1
            os.write(fd, key)
            read_until("藏头> ".encode())
        os.write(fd, b"\x04")  # EOF: the chat ends and saves its history
        os.waitpid(pid, 0)
        os.close(fd)
        return out.decode("utf-8", "replace")

    first = session("/acrostic 春风\r".encode(), b"\x1b[A\r")  # ↑ + Enter: the same again
    assert first.count("《春风》") == 2 and "只能是汉字" not in first, first[-2000:]
    second = session(b"\x1b[A\r")  # a new session remembers the last one
    assert "《春风》" in second, second[-2000:]


@pytest.mark.slow  # a subprocess
def test_a_card_font_that_is_not_a_font_stops_the_bot_in_one_line(tmp_path):
    fake = tmp_path / "fake.otf"
    fake.write_bytes(b"not a font")
    res = run("chat", "-c", "/help", env={"CANGTOU_CARD_FONT": str(fake)})
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert (
        res.stderr.startswith("error: bad settings: card_font:")
        and "not a usable font" in res.stderr
    )
