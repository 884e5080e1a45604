"""What the nightly retrain learns from, and when it does nothing: an author's own ★ never
counts, 藏尾 and long poems are not training text, no new rated poems means no training run, and
a candidate without clichés is rejected with the admins told why."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from bot.chat.core import Actor
from bot.chat.parsing import to_base36
from bot.operations.retrain_inputs import rated_poems
from bot.serving.registry import Registry
from bot.store.models import ModelVersion, RetrainRun
from engine.checkpoint import load_model_dir, resave
from tests.bot.test_retraining import PERMISSIVE, make_runtime, version_copy

pytestmark = pytest.mark.integration

AUTHOR, *OTHERS = [Actor("telegram", str(n), "-7", f"u{n}", "group") for n in (1, 2, 3, 4)]


@pytest.fixture
def models(tmp_path, tiny_model_dir):
    root = tmp_path / "models"
    root.mkdir()
    version_copy(tiny_model_dir, root / "tiny-v1", "tiny-v1")
    Registry(root).set_current("tiny-v1")
    return root


async def poem_rated_by(core, raters, command="/acrostic 春风", author=AUTHOR) -> int:
    reply = await core.command(author, command)
    assert reply.poem_id is not None, reply.text
    for rater in raters:
        await core.callback(rater, f"r:{to_base36(reply.poem_id)}:5")
    return reply.poem_id


def learned(core) -> list[int]:
    with core.db.session() as session:
        return [i for i, _ in rated_poems(session, min_mean=4.0, min_raters=2)]


async def test_an_authors_own_rating_does_not_count(tmp_path, models, corpus_dir):
    runtime = make_runtime(tmp_path, models, corpus_dir)
    core = runtime.core
    try:
        own = await poem_rated_by(core, [AUTHOR, OTHERS[0]])  # one other rater: not enough
        two = await poem_rated_by(core, [AUTHOR, OTHERS[0], OTHERS[1]], "/acrostic 明月")
        # the author's 1★ does not pull the others' mean down either
        low = await poem_rated_by(core, [OTHERS[0], OTHERS[1]], "/acrostic 山水")
        await core.callback(AUTHOR, f"r:{to_base36(low)}:1")
        assert learned(core) == [two, low]
        assert own not in learned(core)
    finally:
        await core.close()


async def test_cangwei_and_long_poems_are_not_training_text(tmp_path, models, corpus_dir):
    runtime = make_runtime(tmp_path, models, corpus_dir)
    core = runtime.core
    try:
        tail = await poem_rated_by(core, OTHERS[:2], "/acrostic 春风 藏尾")
        long = await poem_rated_by(core, OTHERS[:2], "/acrostic 春风花月山水云天江")
        kept = await poem_rated_by(core, OTHERS[:2], "/acrostic 春风花月山水云天")  # 8 lines
        assert learned(core) == [kept] and tail not in learned(core)
        assert long not in learned(core)
    finally:
        await core.close()


async def test_no_new_rated_poems_trains_nothing_and_promotes_nothing(
    tmp_path, models, corpus_dir
):
    runtime = make_runtime(tmp_path, models, corpus_dir, **PERMISSIVE)
    notices = []

    async def send(chat_id, reply):
        notices.append(reply.text)

    runtime.settings = runtime.settings.model_copy(update={"admin_chat": "telegram:-500"})
    runtime.senders["telegram"] = send
    core = runtime.core
    try:
        await poem_rated_by(core, [AUTHOR, OTHERS[0]])  # rated, but not enough to learn from
        started = []
        real_train = runtime.retrainer._train

        async def spy(*args):
            started.append(args)
            return await real_train(*args)

        runtime.retrainer._train = spy
        outcome = await runtime.retrainer.run(trigger="test")
        assert outcome.status == "skipped" and not started  # no training child at all
        assert runtime.registry.current_version() == "tiny-v1"
        assert runtime.registry.versions() == ["tiny-v1"]
        with core.db.session() as s:
            run = s.get(RetrainRun, outcome.run_id)
            assert run.status == "skipped" and "no new rated poems" in run.decision
            assert s.scalars(select(ModelVersion)).all() == []
        assert notices == [
            f"重新训练第 {outcome.run_id} 次跳过：没有新的高分诗可学，当前模型照常服务。"
        ]
    finally:
        await core.close()


@pytest.mark.slow
async def test_a_candidate_without_cliches_is_rejected_and_the_notice_says_so(
    tmp_path, models, corpus_dir
):
    loaded = load_model_dir(models / "tiny-v1")  # served, but lost its table by hand
    del loaded.meta["cliches"]
    resave(loaded, {})
    runtime = make_runtime(tmp_path, models, corpus_dir, **PERMISSIVE, cliche_minutes=0)
    notices = []

    async def send(chat_id, reply):
        notices.append(reply.text)

    runtime.settings = runtime.settings.model_copy(update={"admin_chat": "telegram:-500"})
    runtime.senders["telegram"] = send
    try:
        await poem_rated_by(runtime.core, OTHERS[:2])
        outcome = await runtime.retrainer.run(trigger="test")
        assert outcome.status == "rejected" and outcome.decision.startswith("cliches")
        assert runtime.registry.current_version() == "tiny-v1"
        (notice,) = notices
        assert "未通过（cliches）" in notice
    finally:
        await runtime.core.close()


def test_promotion_refuses_a_directory_that_lacks_a_part(tmp_path, models):
    from bot.operations.admin import AdminError, promote
    from bot.store.session import Database, upgrade

    shutil.copytree(models / "tiny-v1", models / "bare")
    loaded = load_model_dir(models / "bare")
    del loaded.meta["cliches"]
    resave(loaded, {"version": "bare"})
    upgrade(url := f"sqlite:///{tmp_path}/p.db")
    db = Database(url)
    with pytest.raises(AdminError, match=r"bare cannot be served: it has no cliches"):
        promote(db, Registry(models), "bare", "by hand")
    assert Registry(models).current_version() == "tiny-v1"
