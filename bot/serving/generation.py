"""Writing poems off the event loop: a bounded queue in front of step-scheduler processes,
worker processes or threads.

With `batching` (CANGTOU_LIMITS__BATCHING, the default) each of the `workers` processes
advances every poem it holds together (engine.lockstep via bot/serving/batched.py); without it,
each worker process writes one poem at a time (kept for comparison: make bench-bot).

Beam search is Python-heavy, so threads in the bot process fight the event loop for the GIL:
on 2 cores, 2 worker threads wrote ~46 poems/s through the core and ~36/s through Telegram,
while worker processes leave the bot process free for chat I/O (tests/bench/bench_bot.py).
Each worker process loads the model directory it is told to use, so a promoted model is picked
up by the next job without restarting anything; a job always names its model.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot.serving.batched import Schedulers
from bot.serving.poets import PoetHolder
from engine import Poem, Poet
from engine.spec import PoemSpec

log = logging.getLogger(__name__)
_WORKER_POETS: dict[str, Poet] = {}  # in a worker process: model directory → its Poet


class Busy(Exception):
    """The generation queue is full."""


def write(poet: Poet, spec: PoemSpec) -> Poem:
    """The poem a spec describes (the same spec and model give the same poem)."""
    return poet.acrostic(spec)


def _init_worker(parent_pid: int | None = None) -> None:
    # One torch thread per worker: a worker thread with 2 OpenMP threads ran 3× slower on 2 cores
    import faulthandler

    import torch

    faulthandler.enable()  # a worker that crashes in C code says where before it dies
    torch.set_num_threads(1)
    if parent_pid is not None:
        threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """A worker process whose bot was killed (SIGKILL, OOM) would wait on its queue forever:
    it holds that queue's write end itself, so it never sees EOF. Once it is re-parented, exit."""
    while os.getppid() == parent_pid:
        time.sleep(every_s)
    os._exit(0)


def _write_in_worker(model_dir: str, spec: PoemSpec) -> Poem:
    poet = _WORKER_POETS.get(model_dir)
    if poet is None:
        _WORKER_POETS.clear()  # one model per worker: after a swap the old one is not needed
        poet = _WORKER_POETS[model_dir] = Poet.load(model_dir)
    return write(poet, spec)


class Generator:
    """`await generator.write(spec)`: at most `workers` poems at once and `queue_size` waiting;
    beyond that, Busy at once (a polite "try later" beats a reply that comes a minute late)."""

    def __init__(
        self,
        poets: PoetHolder,
        workers: int,
        queue_size: int,
        processes: bool,
        batching: bool = False,
    ):
        self.poets = poets
        self.workers = workers
        self.capacity = workers + queue_size
        self.pending = 0
        self.processes = processes
        self.batching = batching
        self._process_pool: Executor | None = None
        self._schedulers: Schedulers | None = None
        self._threads = ThreadPoolExecutor(workers, "poet", initializer=_init_worker)

    def _processes(self) -> Executor:
        if self._process_pool is None:
            context = multiprocessing.get_context("spawn")  # never fork a process holding torch
            self._process_pool = ProcessPoolExecutor(
                self.workers, context, initializer=_init_worker, initargs=(os.getpid(),)
            )
        return self._process_pool

    def _replace(self, broken: Executor) -> None:
        """A worker died: every job on that pool failed with it. The first to notice replaces
        the pool; the others find the new one already there."""
        if self._process_pool is broken:
            log.error("a generation worker died: starting a new pool, retrying its poems once")
            broken.shutdown(wait=False, cancel_futures=True)
            self._process_pool = None

    async def write(self, spec: PoemSpec) -> Poem:
        if self.pending >= self.capacity:
            raise Busy()
        self.pending += 1
        loop = asyncio.get_running_loop()
        try:
            path = self.poets.path  # read once: a swap never changes a poem half-way
            if not (self.processes and path is not None):
                # a model held only in memory (tests, a fake) is written in this process
                return await loop.run_in_executor(self._threads, write, self.poets.current, spec)
            if self.batching:
                if self._schedulers is None:
                    self._schedulers = Schedulers(self.workers)
                return await self._schedulers.write(str(path), spec)
            for attempt in (1, 2):
                pool = self._processes()
                try:
                    return await loop.run_in_executor(pool, _write_in_worker, str(path), spec)
                except BrokenProcessPool:
                    self._replace(pool)
                    if attempt == 2:  # a poem that kills its worker twice is not retried again
                        raise
        finally:
            self.pending -= 1

    async def warm_up(self) -> None:
        """Start every worker and load the model there, before the first user waits for it."""
        spec = PoemSpec("春", chars_per_line=5, mode="beam", beam_size=1)
        await asyncio.gather(*(self.write(spec) for _ in range(self.workers)))

    @property
    def mean_batch(self) -> float | None:
        """Mean poems per batched step so far (None without step schedulers)."""
        return None if self._schedulers is None else self._schedulers.mean_batch

    def shutdown(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        if self._schedulers is not None:
            self._schedulers.close()
        if self._process_pool is not None:
            self._process_pool.shutdown(wait=True, cancel_futures=True)
