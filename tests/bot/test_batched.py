"""Poems through step-scheduler processes: the engine's batched poem, faults kept to one poem."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from bot.serving.batched import SearchFailed
from bot.serving.generation import Busy, Generator
from bot.serving.poets import PoetHolder
from engine.lockstep.search import Lockstep
from engine.spec import PoemSpec

pytestmark = [pytest.mark.unit, pytest.mark.slow]  # every test starts a scheduler process

SPECS = [
    PoemSpec("春风", chars_per_line=5, mode="beam", beam_size=4),
    PoemSpec("明月", chars_per_line=7),
    PoemSpec("秋雨", chars_per_line=5, mode="sample", seed=5),
]


@pytest.fixture
async def generator(tiny_model_dir):
    generator = Generator(
        PoetHolder(tiny_model_dir), workers=1, queue_size=16, processes=True, batching=True
    )
    yield generator
    await asyncio.to_thread(generator.shutdown)


def batched(poet, spec):
    return Lockstep(poet).run({0: spec})[0].result


@pytest.mark.slow
async def test_the_scheduler_process_writes_the_batched_poem_of_each_spec(generator, poet):
    poems = await asyncio.gather(*(generator.write(spec) for spec in SPECS * 3))
    assert [p.text for p in poems] == [batched(poet, s).text for s in SPECS * 3]
    assert generator._schedulers is not None and generator._process_pool is None
    assert generator.mean_batch >= 1


@pytest.mark.slow
async def test_a_failing_search_fails_only_its_poem(generator, poet):
    broken = PoemSpec("春风", chars_per_line=5)
    object.__setattr__(broken, "chars_per_line", 6)  # past validation: the search raises
    results = await asyncio.gather(
        *(generator.write(s) for s in [SPECS[0], broken, SPECS[1]]), return_exceptions=True
    )
    assert isinstance(results[1], SearchFailed) and "chars_per_line" in str(results[1])
    assert results[0].text == batched(poet, SPECS[0]).text
    assert results[2].text == batched(poet, SPECS[1]).text


@pytest.mark.slow
async def test_a_dead_scheduler_is_restarted_and_its_poems_retried_once(generator, poet):
    await generator.write(SPECS[0])  # started, model loaded
    slot = generator._schedulers.slots[0]
    first = slot.process.pid
    pending = [asyncio.create_task(generator.write(s)) for s in SPECS * 4]
    await asyncio.sleep(0.05)
    os.kill(first, signal.SIGKILL)
    poems = await asyncio.wait_for(asyncio.gather(*pending), 60)
    assert [p.text for p in poems] == [batched(poet, s).text for s in SPECS * 4]
    assert slot.process.pid != first and slot.process.is_alive()


@pytest.mark.slow
async def test_beyond_the_queue_the_answer_is_busy(tiny_model_dir):
    generator = Generator(
        PoetHolder(tiny_model_dir), workers=1, queue_size=1, processes=True, batching=True
    )
    try:
        tasks = [asyncio.create_task(generator.write(SPECS[0])) for _ in range(3)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(isinstance(r, Busy) for r in results) == 1
    finally:
        await asyncio.to_thread(generator.shutdown)


@pytest.mark.slow
async def test_the_next_poem_uses_the_swapped_model_directory(generator, tiny_model_dir, tmp_path):
    import shutil

    from engine import Poet
    from engine.checkpoint import load_model_dir, resave

    await generator.write(SPECS[0])
    other = tmp_path / "tiny-v2"
    shutil.copytree(tiny_model_dir, other)
    resave(load_model_dir(other), {"version": "tiny-v2"})
    generator.poets.swap(Poet.load(other), other)
    assert (await generator.write(SPECS[0])).model_version == "tiny-v2"
