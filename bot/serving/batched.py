"""Poems through step-scheduler processes: each batches the LSTM steps of every poem it holds.

Each process runs engine.lockstep.Lockstep over the poems sent to it: one model step and one
vectorised search step for every hypothesis of every poem in flight (one per model directory,
so a swap never mixes models in a step); a request goes
to the process holding the fewest. Results come back through a reader thread per process,
which resolves the waiting asyncio future. A search that raises fails only its request; a
process that dies is restarted by its reader and its requests are retried once (a poem is
deterministic, so a retry writes the same poem).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field

from engine import Poem, Poet
from engine.lockstep.search import Lockstep
from engine.spec import PoemSpec

log = logging.getLogger(__name__)
MAX_ACTIVE = 32  # searches one process steps together; more wait in its inbox
_ids = itertools.count()


class SchedulerDied(RuntimeError):
    """A scheduler process died twice while holding this poem."""


class SearchFailed(RuntimeError):
    """A poem's search raised in a scheduler process (the message carries its traceback)."""


def serve(inbox, outbox, parent_pid: int) -> None:
    """The scheduler process: take jobs (id, model_dir, spec), step, send back
    (id, poem, error, (steps, searches))."""
    import faulthandler

    import torch

    faulthandler.enable()  # a scheduler that crashes in C code says where before it dies
    torch.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    poets: dict[str, Poet] = {}
    schedulers: dict[str, Lockstep] = {}
    steps = searches = 0
    while True:
        active = sum(len(s) for s in schedulers.values())  # searches (passes ride along)
        busy = any(s.active for s in schedulers.values())
        while active < MAX_ACTIVE:
            try:
                job = inbox.get_nowait() if busy else inbox.get()
            except queue.Empty:
                break
            if job is None:
                return
            job_id, model_dir, spec = job
            try:
                poet = poets.get(model_dir)
                if poet is None:
                    poet = poets[model_dir] = Poet.load(model_dir)
                scheduler = schedulers.get(model_dir)
                if scheduler is None:
                    scheduler = schedulers[model_dir] = Lockstep(poet)
                done = scheduler.submit(job_id, spec)
            except Exception as error:  # the model directory would not load
                outbox.put((job_id, None, _sendable(error), (steps, searches)))
                continue
            if done is not None:
                outbox.put((job_id, done.result, _sendable(done.error), (steps, searches)))
            else:
                active, busy = active + 1, True
        for model_dir, scheduler in list(schedulers.items()):
            if scheduler.active:
                steps, searches = steps + 1, searches + len(scheduler)
            finished = scheduler.step()
            for done in finished:
                outbox.put((done.key, done.result, _sendable(done.error), (steps, searches)))
            if not scheduler.active and len(schedulers) > 1:  # an old model's last poem left
                del schedulers[model_dir], poets[model_dir]


def _sendable(error: BaseException | None) -> SearchFailed | None:
    """The error as text with its traceback: any exception type crosses the queue that way
    (one whose constructor takes other arguments than its message would not unpickle)."""
    if error is None:
        return None
    return SearchFailed("".join(traceback.format_exception(error)).rstrip())


def _exit_with_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """Exit once the bot is gone (re-parented): a killed bot leaves no scheduler behind."""
    while os.getppid() == parent_pid:
        time.sleep(every_s)
    os._exit(0)


@dataclass
class _Job:
    model_dir: str
    spec: PoemSpec
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    id: int = field(default_factory=lambda: next(_ids))
    attempts: int = 1

    def resolve(self, poem: Poem | None, error: BaseException | None) -> None:
        self.loop.call_soon_threadsafe(_settle, self.future, poem, error)


def _settle(future: asyncio.Future, poem, error) -> None:
    if future.done():  # the caller gave up (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(poem)


class _Slot:
    """One scheduler process, its queues, the jobs it holds and the thread reading its answers."""

    def __init__(self, index: int):
        self.index = index
        self.jobs: dict[int, _Job] = {}
        self.lock = threading.Lock()
        self.closed = False
        self.stats = (0, 0)  # (steps, searches summed over steps) as the process last said
        self._start()
        self.reader = threading.Thread(target=self._read, name=f"scheduler-{index}", daemon=True)
        self.reader.start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process holding torch
        self.inbox, self.outbox = context.Queue(), context.Queue()
        self.process = context.Process(
            target=serve, args=(self.inbox, self.outbox, os.getpid()), daemon=True
        )
        self.process.start()

    def submit(self, job: _Job) -> None:
        with self.lock:
            self.jobs[job.id] = job
            self.inbox.put((job.id, job.model_dir, job.spec))

    def _read(self) -> None:
        while not self.closed:
            try:
                job_id, poem, error, self.stats = self.outbox.get(timeout=0.2)
            except queue.Empty:
                if not self.closed and not self.process.is_alive():
                    self._restart()
                continue
            except (EOFError, OSError):  # the process died half-way through a message
                time.sleep(0.05)
                continue
            except Exception:  # a message that will not unpickle: its poem is retried
                log.exception("unreadable answer from step scheduler %d", self.index)
                continue
            with self.lock:
                job = self.jobs.pop(job_id, None)
            if job is not None:
                job.resolve(poem, error)

    def _restart(self) -> None:
        """The process died: every poem it held is retried once in a new one."""
        log.error("step scheduler %d died (exit %s): restarting it, retrying its poems once",
                  self.index, self.process.exitcode)  # fmt: skip
        with self.lock:
            jobs, self.jobs = list(self.jobs.values()), {}
            for old in (self.inbox, self.outbox):  # nobody reads these now: exit without them
                old.cancel_join_thread()
            self._start()
        for job in jobs:
            if job.attempts >= 2:
                job.resolve(None, SchedulerDied("the step scheduler died twice on this poem"))
            else:
                job.attempts += 1
                self.submit(job)

    def close(self) -> None:
        self.closed = True
        try:
            self.inbox.put(None)
            self.process.join(5)
        finally:
            if self.process.is_alive():
                self.process.terminate()
        self.reader.join(1)


class Schedulers:
    """`await schedulers.write(model_dir, spec)` through `count` step-scheduler processes."""

    def __init__(self, count: int):
        self.slots = [_Slot(i) for i in range(count)]

    async def write(self, model_dir: str, spec: PoemSpec) -> Poem:
        loop = asyncio.get_running_loop()
        job = _Job(model_dir, spec, loop.create_future(), loop)
        slot = min(self.slots, key=lambda s: len(s.jobs))
        slot.submit(job)
        try:
            return await job.future
        finally:
            with slot.lock:  # cancelled or done: forget it either way
                slot.jobs.pop(job.id, None)

    @property
    def mean_batch(self) -> float:
        """Mean poems per batched step, over every process since it started."""
        steps = sum(s.stats[0] for s in self.slots)
        return sum(s.stats[1] for s in self.slots) / steps if steps else 0.0

    def close(self) -> None:
        for slot in self.slots:
            slot.close()
