"""Poems written in worker processes: the same poem as in-process, a swap, a dead worker."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from bot.serving.generation import Busy, Generator, write
from bot.serving.poets import PoetHolder
from engine import Poet
from engine.spec import PoemSpec

pytestmark = pytest.mark.unit

JOB = PoemSpec("春风", chars_per_line=5, mode="beam", beam_size=4)


@pytest.fixture
async def generator(tiny_model_dir):
    generator = Generator(PoetHolder(tiny_model_dir), workers=1, queue_size=1, processes=True)
    yield generator
    await asyncio.to_thread(generator.shutdown)


@pytest.mark.slow
async def test_a_worker_process_writes_what_this_process_would(generator, poet):
    poem = await generator.write(JOB)
    assert poem.text == write(poet, JOB).text and poem.model_version == poet.model_version
    assert generator._process_pool is not None  # it really ran in a worker process


@pytest.mark.slow
async def test_the_next_job_uses_the_swapped_model_directory(generator, tiny_model_dir, tmp_path):
    import shutil

    from engine.checkpoint import load_model_dir, resave

    await generator.write(JOB)
    other = tmp_path / "tiny-v2"
    shutil.copytree(tiny_model_dir, other)
    resave(load_model_dir(other), {"version": "tiny-v2"})
    generator.poets.swap(Poet.load(other), other)
    assert (await generator.write(JOB)).model_version == "tiny-v2"


@pytest.mark.slow
async def test_a_killed_worker_is_replaced_and_its_poem_retried(generator):
    await generator.write(JOB)
    broken = generator._process_pool
    for pid in list(broken._processes):
        os.kill(pid, signal.SIGKILL)
    assert (await generator.write(JOB)).lines[0].startswith("春")
    assert generator._process_pool is not broken


@pytest.mark.slow
async def test_more_jobs_than_workers_and_queue_are_refused_at_once(generator):
    await generator.write(JOB)  # the worker is up
    results = await asyncio.gather(
        *(generator.write(JOB) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, Busy) for r in results) == 3
    assert all(r.lines for r in results if not isinstance(r, Exception))
