"""The learning loop on tiny models: the gate, the pipeline in a child process, a SIGKILL in
the middle of it, hot swap under load, refusal of broken model directories, rollback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time

import pytest
import torch
from sqlalchemy import select

from bot.chat.core import Actor
from bot.chat.parsing import to_base36
from bot.runtime.app import build_core, build_runtime
from bot.serving.registry import Registry
from bot.store.models import ModelVersion, PoemRequest, RetrainRun
from engine.checkpoint import ModelDirError, load_model_dir, resave, save_model_dir
from tests.conftest import bot_settings
from train.gate import CHECKS, decide, reader_metrics
from train.retrain_options import RetrainKnobs

pytestmark = pytest.mark.integration

ADMIN = Actor("telegram", "99", "99")
USERS = [Actor("telegram", str(n), "-7", f"u{n}", "group") for n in (1, 2, 3)]
HEADS = ["春风", "明月", "山水", "花开"]


def version_copy(source, target, version):
    shutil.copytree(source, target)
    resave(load_model_dir(target), {"version": version})
    return target


@pytest.fixture
def models(tmp_path, tiny_model_dir):
    """models/ with version tiny-v1 current (the served model) and tiny-v2 on disk."""
    root = tmp_path / "models"
    root.mkdir()
    version_copy(tiny_model_dir, root / "tiny-v1", "tiny-v1")
    version_copy(tiny_model_dir, root / "tiny-v2", "tiny-v2")
    Registry(root).set_current("tiny-v1")
    return root


def loop_settings(tmp_path, models, corpus_dir, **retrain):
    values = {"corpus_dir": str(corpus_dir), "max_minutes": 0.1, "eval_minutes": 0.05,
              "tokens_per_batch": 512, "eval_heads": 4, "min_raters": 2, **retrain}  # fmt: skip
    return bot_settings(
        f"sqlite:///{tmp_path}/loop.db", models_dir=str(models), retrain=values,
        limits={"user_burst": 100, "chat_burst": 100},
    )  # fmt: skip


@pytest.fixture
async def runtime(tmp_path, models, corpus_dir):
    runtime = build_runtime(build_settings := loop_settings(tmp_path, models, corpus_dir))
    runtime.settings = build_settings
    yield runtime
    await runtime.core.close()
    runtime.core.db.dispose()


def make_runtime(tmp_path, models, corpus_dir, **retrain):
    settings = loop_settings(tmp_path, models, corpus_dir, **retrain)
    return build_runtime(settings, build_core(settings, processes=False))


# every gate tolerance wide open: for tests of the pipeline, not of the gate
PERMISSIVE = {"margin": 100.0, "compliance_drop": 1.0, "shared_trigram_rise": 1.0,
              "repeat_rise": 100.0, "theme_information_drop": 100.0, "min_gain": 0.0,
              "lr": 3e-3, "max_minutes": 0.5, "max_steps": 60, "eval_minutes": 5}  # fmt: skip


async def rated_poem(core, stars=(5, 5), head="春风") -> int:
    """A poem by USERS[0], rated by the others (an author's own ★ never counts)."""
    reply = await core.command(USERS[0], f"/acrostic {head}")
    for user, n in zip(USERS[1:], stars, strict=False):
        await core.callback(user, f"r:{to_base36(reply.poem_id)}:{n}")
    return reply.poem_id


# --- the gate ------------------------------------------------------------------------------------
GATE = {"format_rate": 1.0, "rhyme_rate": 1.0, "shared_trigram_rate": 0.011,
        "repeated_chars_per_poem": 0.4, "theme_information": 0.12, "test_nats_per_char": 3.0,
        "rated_nats_per_char": 4.0, "missing_parts": []}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"rated_nats_per_char": 3.9}, None),  # gained on the rated poems, nothing worse
        ({"rated_nats_per_char": 3.9, "test_nats_per_char": 3.009}, None),  # within the margin
        ({}, "rated_nats_per_char"),  # identical to its parent: nothing gained
        ({"rated_nats_per_char": 3.99}, "rated_nats_per_char"),  # below min_gain
        ({"rated_nats_per_char": 3.9, "test_nats_per_char": 3.02}, "test_nats_per_char"),
        ({"rated_nats_per_char": 3.9, "test_nats_per_char": float("nan")}, "test_nats_per_char"),
        ({"rated_nats_per_char": 3.9, "rhyme_rate": 0.99}, "rhyme_rate"),
        ({"rated_nats_per_char": 3.9, "shared_trigram_rate": 0.119}, "shared_trigram_rate"),
        ({"rated_nats_per_char": 3.9, "repeated_chars_per_poem": 0.9}, "repeated_chars_per_poem"),
        ({"rated_nats_per_char": 3.9, "theme_information": 0.05}, "theme_information"),
        ({"rated_nats_per_char": 3.9, "missing_parts": ["cliches"]}, "cliches"),
    ],
)
def test_the_gate_names_the_metric_that_failed(change, failed):
    promote, reason, metric = decide(GATE, {**GATE, **change}, RetrainKnobs())
    assert (promote, metric) == (failed is None, failed), reason
    if failed:
        assert reason.startswith(failed)


def test_the_admin_notice_names_the_failed_metric():
    from bot.operations.admin import outcome_text
    from bot.operations.retraining import RetrainOutcome

    cand = {**GATE, "shared_trigram_rate": 0.119}
    _, reason, metric = decide(GATE, cand, RetrainKnobs())
    metrics = {"base": GATE, "candidate": cand, "failed_metric": metric}
    text = outcome_text(RetrainOutcome(7, "rejected", reason, "v-7", metrics))
    assert "未通过（shared_trigram_rate）" in text and "共用三字组 0.011 → 0.119" in text


def test_reader_metrics_see_a_planted_worse_model(tmp_path, corpus_dir, tiny_model_dir):
    from train.corpus import read_themed

    noisy = tmp_path / "noisy"  # the model with its weights scrambled
    loaded = load_model_dir(tiny_model_dir)
    with torch.no_grad():
        for p in loaded.model.parameters():
            p.add_(torch.randn_like(p) * 2.0)
    save_model_dir(noisy, loaded.model, loaded.vocab, {**loaded.meta, "version": "noisy"},
                   line_hashes=loaded.line_hashes, plan_data=loaded.plan_data)  # fmt: skip
    test, rated = read_themed(corpus_dir, "test"), ["春风花月山，水云天江南。"]
    base = reader_metrics(tiny_model_dir, HEADS, test, rated)
    worse = reader_metrics(noisy, HEADS, test, rated)
    assert base["poems"] == worse["poems"] == len(HEADS) and base["format_rate"] == 1.0
    assert worse["test_nats_per_char"] > base["test_nats_per_char"] + 0.1
    promote, _, metric = decide(base, worse, RetrainKnobs())
    assert not promote and metric in {check.metric for check in CHECKS}  # worse, not just no gain


# --- the pipeline ---------------------------------------------------------------------------------
@pytest.mark.slow
async def test_retrain_promotes_records_and_hot_swaps(tmp_path, models, corpus_dir):
    runtime = make_runtime(tmp_path, models, corpus_dir, **PERMISSIVE)
    runtime.settings = runtime.settings.model_copy(update={"admin_chat": "telegram:-500"})
    notices = []

    async def send(chat_id, reply):
        notices.append((chat_id, reply.text))

    runtime.senders["telegram"] = send
    core = runtime.core
    try:
        poem_id = await rated_poem(core)
        lonely = await core.command(USERS[0], "/acrostic 明月")  # one rater only: not used
        await core.callback(USERS[1], f"r:{to_base36(lonely.poem_id)}:5")
        outcome = await runtime.retrainer.run(trigger="test")
        assert outcome.status == "promoted", outcome
        assert runtime.registry.current_version() == outcome.version
        assert (await core.command(USERS[2], "/acrostic 花")).model_version == outcome.version
        with core.db.session() as s:
            run = s.get(RetrainRun, outcome.run_id)
            assert run.inputs["request_ids"] == [poem_id] and run.base_version == "tiny-v1"
            assert run.metrics["candidate"]["test_nats_per_char"] > 0 and "step" in run.log
            version = s.scalar(select(ModelVersion).where(ModelVersion.version == outcome.version))
            assert version.parent == "tiny-v1" and version.status == "current"
            assert s.get(PoemRequest, poem_id).used_in_run_id == run.id
            assert s.get(PoemRequest, lonely.poem_id).used_in_run_id is None
        assert (
            json.loads((models / outcome.version / "model.json").read_text())["parent"]
            == "tiny-v1"
        )
        assert not (models / ".staging").exists() or not any((models / ".staging").iterdir())
        ((chat, notice),) = notices
        assert chat == "-500" and f"新模型 {outcome.version} 已启用" in notice
        assert f"测试集交叉熵 {version.metrics['base']['test_nats_per_char']} → " in notice

        rolled = await core.command(ADMIN, "/rollback")
        assert f"{outcome.version} → tiny-v1" in rolled.text
        assert (await core.command(USERS[2], "/acrostic 花")).model_version == "tiny-v1"
    finally:
        await core.close()


@pytest.mark.slow
async def test_a_rejected_candidate_changes_nothing_visible(tmp_path, models, corpus_dir):
    """A learning rate of 5 wrecks the warm-started weights: the gate must say no."""
    runtime = make_runtime(
        tmp_path, models, corpus_dir, **{**PERMISSIVE, "margin": 0.01, "lr": 5.0}
    )
    try:
        poem_id = await rated_poem(runtime.core)
        outcome = await runtime.retrainer.run(trigger="test")
        assert outcome.status == "rejected" and "test_nats_per_char" in outcome.decision
        assert runtime.registry.current_version() == "tiny-v1"
        assert runtime.registry.versions() == ["tiny-v1", "tiny-v2"]
        with runtime.core.db.session() as s:
            row = s.scalar(select(ModelVersion).where(ModelVersion.version == outcome.version))
            assert row.status == "rejected" and row.parent == "tiny-v1"
            assert s.get(PoemRequest, poem_id).used_in_run_id is None  # free for the next run
    finally:
        await runtime.core.close()


@pytest.mark.slow
async def test_sigkill_in_the_middle_of_retraining(tmp_path, models, corpus_dir):
    runtime = make_runtime(tmp_path, models, corpus_dir, max_minutes=2.0, eval_minutes=0.02)
    core = runtime.core
    try:
        await rated_poem(core)  # something to learn, or the run is skipped
        task = asyncio.create_task(runtime.retrainer.run(trigger="test"))
        deadline = time.monotonic() + 120  # the child imports torch, measures, then trains
        while time.monotonic() < deadline:  # until it is training and has saved a checkpoint
            staged = list((models / ".staging").glob("*/model.json"))
            if runtime.retrainer.process is not None and staged:
                break
            await asyncio.sleep(0.05)
        assert staged, "the training child never saved a checkpoint"
        os.kill(runtime.retrainer.process.pid, signal.SIGKILL)
        outcome = await asyncio.wait_for(task, 60)
        assert outcome.status == "failed" and "-9" in outcome.decision
        assert runtime.registry.current_version() == "tiny-v1"
        assert runtime.registry.versions() == ["tiny-v1", "tiny-v2"]  # nothing half-written
        assert not any((models / ".staging").glob("*"))
        reply = await core.command(USERS[0], "/acrostic 山")
        assert reply.poem_id is not None and reply.model_version == "tiny-v1"
        with core.db.session() as s:
            assert s.get(RetrainRun, outcome.run_id).status == "failed"
    finally:
        await core.close()


@pytest.mark.slow
async def test_a_bot_that_stops_mid_retrain_kills_its_training_process(
    tmp_path, models, corpus_dir
):
    """A deploy or SIGTERM at 03:00 cancels the retrain: its training process is killed and
    reaped (it was left running, writing into a staging folder being removed), and the run
    says why instead of staying 'running'."""
    from bot.operations.retraining import STOPPED

    runtime = make_runtime(tmp_path, models, corpus_dir, max_minutes=2.0, eval_minutes=0.02)
    core = runtime.core
    try:
        await rated_poem(core)
        task = asyncio.create_task(runtime.retrainer.run(trigger="test"))
        deadline = time.monotonic() + 120
        while runtime.retrainer.process is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        child = runtime.retrainer.process
        assert child is not None, "the training process never started"
        await asyncio.sleep(1.0)  # importing torch, or training
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 60)
        assert child.returncode is not None  # killed and reaped, not orphaned
        with pytest.raises(ProcessLookupError):
            os.kill(child.pid, 0)
        assert not any((models / ".staging").glob("*"))
        assert runtime.registry.versions() == ["tiny-v1", "tiny-v2"]
        with core.db.session() as s:
            run = s.scalar(select(RetrainRun))
            assert (run.status, run.decision) == ("failed", STOPPED)
        assert runtime.retrainer.lock.locked() is False  # the next run may start
    finally:
        await core.close()


# --- hot swap, validation, admin -----------------------------------------------------------------
@pytest.mark.slow
async def test_hot_swap_under_concurrent_requests(tmp_path, models, corpus_dir):
    from bot.operations.admin import promote

    settings = loop_settings(tmp_path, models, corpus_dir)
    core = build_core(settings)  # worker processes, following CURRENT
    try:
        await core.generator.warm_up()
        actors = [Actor("telegram", str(n), str(n)) for n in range(40)]

        async def ask(actor, head):
            return await core.command(actor, f"/acrostic {head}")

        first = [asyncio.create_task(ask(a, "春风")) for a in actors[:20]]
        await asyncio.sleep(0.05)
        await asyncio.to_thread(promote, core.db, Registry(models), "tiny-v2", "test")
        second = [asyncio.create_task(ask(a, "明月")) for a in actors[20:]]
        replies = await asyncio.gather(*first, *second)
        assert all(r.poem_id is not None for r in replies), [r.text for r in replies]
        assert {r.model_version for r in replies} <= {"tiny-v1", "tiny-v2"}
        assert all(r.model_version == "tiny-v2" for r in replies[20:])
        with core.db.session() as s:
            stored = {r.id: r.model_version for r in s.scalars(select(PoemRequest))}
        assert all(stored[r.poem_id] == r.model_version for r in replies)
    finally:
        await core.close()


@pytest.mark.parametrize("damage", ["missing weights", "wrong vocabulary hash", "bad shapes"])
async def test_a_broken_model_directory_is_refused_and_the_old_one_serves(
    tmp_path, models, corpus_dir, damage
):
    broken = models / "tiny-v2"
    meta = json.loads((broken / "model.json").read_text())
    if damage == "missing weights":
        (broken / "model.safetensors").unlink()
    elif damage == "wrong vocabulary hash":
        meta["vocab_digest"] = "0" * 64
    else:
        meta["config"]["hidden_dim"] *= 2
    (broken / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelDirError):
        Registry(models).set_current("tiny-v2")
    assert Registry(models).current_version() == "tiny-v1"

    runtime = make_runtime(tmp_path, models, corpus_dir)
    try:
        (models / "CURRENT").write_text("tiny-v2\n")  # forced by hand, past the validation
        reply = await runtime.core.command(USERS[0], "/acrostic 山")
        assert reply.poem_id is not None and reply.model_version == "tiny-v1"
    finally:
        await runtime.core.close()


@pytest.mark.parametrize("command", ["/retrain", "/retrain status", "/rollback", "/model"])
async def test_admin_commands_refused_for_others(runtime, command):
    reply = await runtime.core.command(USERS[0], command)
    assert reply.text == "抱歉，这个命令只有机器人管理员可以用。"


async def test_admin_model_and_retrain_status(runtime):
    assert "还没有重新训练过" in (await runtime.core.command(ADMIN, "/retrain status")).text
    info = (await runtime.core.command(ADMIN, "/model")).text
    assert "当前模型：tiny-v1" in info


@pytest.mark.slow
async def test_admin_retrain_runs_in_the_background_and_reports(tmp_path, models, corpus_dir):
    runtime = make_runtime(tmp_path, models, corpus_dir, **PERMISSIVE)
    core = runtime.core
    try:
        await rated_poem(core)
        started = await core.command(ADMIN, "/retrain")
        assert started.text.startswith("已开始重新训练")
        await asyncio.sleep(0.2)
        busy = await core.command(ADMIN, "/retrain")
        assert "正在进行" in busy.text
        poem = await core.command(USERS[0], "/acrostic 江南")  # the bot keeps answering
        assert poem.poem_id is not None
        for _ in range(6000):  # the child trains and judges: minutes on a busy 2-core machine
            if not runtime.retrainer.lock.locked():
                break
            await asyncio.sleep(0.05)
        status = (await core.command(ADMIN, "/retrain status")).text
        assert "第 1 次重新训练：promoted" in status
        info = (await core.command(ADMIN, "/model")).text
        assert "当前模型：cangtou-" in info and "上一版：tiny-v1" in info
    finally:
        await core.close()


def test_the_retrain_options_are_declared_once_and_travel_as_json(tmp_path):
    """The bot's retrain settings extend the child's options; the child reads them from JSON."""
    from bot.base.settings import RetrainSettings
    from train.retrain_options import RetrainKnobs, RetrainOptions

    assert issubclass(RetrainSettings, RetrainKnobs) and issubclass(RetrainOptions, RetrainKnobs)
    knobs = RetrainSettings(lr=1e-3, max_steps=3).model_dump(
        include=set(RetrainKnobs.model_fields)
    )
    options = RetrainOptions(**knobs, base=tmp_path, corpus=tmp_path, out=tmp_path / "o",
                             report=tmp_path / "r.json", extra_texts=["春风。"])  # fmt: skip
    assert RetrainOptions.model_validate_json(options.model_dump_json()) == options
    assert (options.lr, options.max_steps, options.margin) == (1e-3, 3, 0.01)
