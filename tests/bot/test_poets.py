"""A broken models/CURRENT or model version never takes poems down: the bot keeps (or finds)
a model that loads, says so once, and stores every request."""

from __future__ import annotations

import logging
import shutil

import pytest
from sqlalchemy import select

from bot.chat.core import Actor
from bot.runtime.app import build_core
from bot.serving.poets import PoetHolder
from bot.serving.registry import Registry
from bot.store.models import PoemRequest
from engine.checkpoint import load_model_dir, resave
from tests.bot.cli.test_serving import run
from tests.conftest import bot_settings

pytestmark = pytest.mark.integration

ALICE = Actor("telegram", "1", "1", "Alice")


def add_version(root, tiny_model_dir, version, created_at):
    shutil.copytree(tiny_model_dir, root / version)
    resave(load_model_dir(root / version), {"version": version, "created_at": created_at})
    return root / version


def point(root, value: bytes | None) -> None:
    pointer = root / "CURRENT"
    if pointer.is_dir():
        pointer.rmdir()
    else:
        pointer.unlink(missing_ok=True)
    if value is None:
        pointer.mkdir()
    else:
        pointer.write_bytes(value)


@pytest.mark.parametrize(
    "value", [b"../../etc\n", b".staging\n", b"\xff\xfe\x00\n", None, b"no-such-version\n"]
)
async def test_an_odd_current_keeps_the_loaded_model_serving(
    sqlite_url, tiny_model_dir, tmp_path, caplog, value
):
    root = tmp_path / "models"
    add_version(root, tiny_model_dir, "good", "2026-01-01T00:00:00")
    Registry(root).set_current("good")
    holder = PoetHolder(registry=Registry(root, tiny_model_dir))
    core = build_core(bot_settings(sqlite_url), holder, processes=False)
    try:
        point(root, value)  # None: CURRENT becomes a directory
        caplog.set_level(logging.INFO)
        replies = [await core.command(ALICE, f"/acrostic {h}") for h in "春夏秋"]
        assert all("模型 good" in r.text and r.poem_id for r in replies), replies[0].text
        refusals = [r for r in caplog.records if "CURRENT" in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].levelno == logging.ERROR
        with core.db.session() as session:
            assert len(session.scalars(select(PoemRequest)).all()) == 3
    finally:
        await core.close()
        core.db.dispose()


@pytest.mark.slow
def test_chat_starts_on_the_newest_valid_version_when_current_is_broken(tmp_path, tiny_model_dir):
    root = tmp_path / "models"
    add_version(root, tiny_model_dir, "older", "2026-01-01T00:00:00")
    add_version(root, tiny_model_dir, "newer", "2026-02-01T00:00:00")
    broken = add_version(root, tiny_model_dir, "broken", "2026-03-01T00:00:00")
    (broken / "model.safetensors").write_bytes(b"not weights")
    point(root, b"broken\n")
    env = {"CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/b.db", "CANGTOU_MODELS_DIR": str(root),
           "CANGTOU_MODEL_DIR": str(tiny_model_dir)}  # fmt: skip
    res = run("chat", "-c", "/acrostic 春风", env=env)
    assert res.returncode == 0, res.stderr
    assert "《春风》" in res.stdout and "模型 newer" in res.stdout
    assert "serving newer instead" in res.stderr and "Traceback" not in res.stderr
    point(root, b"vanished\n")  # and nothing on disk loads: the default model
    shutil.rmtree(root / "older")
    shutil.rmtree(root / "newer")
    res = run("chat", "-c", "/acrostic 春风", env=env)
    assert res.returncode == 0 and "模型 tiny" in res.stdout, res.stderr
    assert "serving the default model" in res.stderr
