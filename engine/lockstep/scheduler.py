"""Continuous batching across requests: every active search's rows share one LSTM step.

A search is a generator (engine.decode.Search) that yields the model steps it needs. The
scheduler keeps many of them in flight; at each step it concatenates the rows every search
is waiting on, runs one batched advance and the log-probabilities, and sends each search its
slice. A search joins at the next step and leaves when it returns or raises; its constraints
and rerank stay its own. A search that raises fails alone. engine.lockstep, which the bot
runs, goes further for beam searches (their bookkeeping vectorised across requests) and
hands sampled poems to this scheduler.

Determinism needs each row's numbers to be independent of the rows beside it. fbgemm's
dynamic int8 linear quantises activations with one scale per call, so a row's log-probs
change with its batch (by up to 0.25 nats); oneDNN's bf16 and fp32 matmuls round a row
differently for different batch sizes (their blocking depends on it). So the batched stepper
quantises activations row by row (an LSTM output at a fixed step) and multiplies in integers
("int8-rows", engine.linears): the sums are exact, and a row comes out bit-identical in any
batch, whichever kernel its batch size picks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from engine.decode import Predict, Search
from engine.stepper import Hidden, Stepper


@dataclass
class Finished:
    """A search that ended: its return value, or the exception it raised."""

    key: object
    result: object = None
    error: BaseException | None = None


@dataclass
class StepStats:
    steps: int = 0
    rows: int = 0
    searches: int = 0  # summed over steps: searches served per step
    step_s: float = 0.0  # time in the batched model step
    search_s: float = 0.0  # time in the searches' own code (constraints, rerank, bookkeeping)
    pass_s: float = 0.0  # engine.lockstep: time in the rerank's passes

    @property
    def mean_batch(self) -> float:
        """Mean requests per step."""
        return self.searches / self.steps if self.steps else 0.0

    def add(self, searches: int, rows: int, started: float, middle: float) -> None:
        """Count one step: the model from `started` to `middle`, the searches until now."""
        self.steps += 1
        self.searches += searches
        self.rows += rows
        self.step_s += middle - started
        self.search_s += time.perf_counter() - middle


def run_all(scheduler, items: dict) -> dict[object, Finished]:
    """Every item of {key: item} submitted to a scheduler (StepScheduler, engine.lockstep's
    Lockstep) and stepped to its end, all in flight at once (tests, benches)."""
    results = {}
    for key, item in items.items():
        done = scheduler.submit(key, item)
        if done is not None:
            results[key] = done
    while scheduler.active:
        for done in scheduler.step():
            results[done.key] = done
    return results


class StepScheduler:
    """Runs searches together on one Stepper. Not thread-safe: one loop owns it."""

    def __init__(self, stepper: Stepper):
        self.stepper = stepper
        self.active: dict[object, tuple[Search, Predict]] = {}
        self.stats = StepStats()

    def __len__(self) -> int:
        return len(self.active)

    @torch.inference_mode()
    def submit(self, key, search: Search) -> Finished | None:
        """Start a search; it joins the next step. Returns Finished when it ended at once."""
        if key in self.active:
            raise KeyError(f"{key!r} is already running")
        return self._resume(key, search, None, first=True)

    def _resume(self, key, search: Search, answer, first: bool = False) -> Finished | None:
        try:
            request = next(search) if first else search.send(answer)
        except StopIteration as done:
            self.active.pop(key, None)
            return Finished(key, done.value)
        except Exception as error:  # this search's bug or bad input: it alone fails
            self.active.pop(key, None)
            return Finished(key, error=error)
        self.active[key] = (search, request)
        return None

    @torch.inference_mode()
    def step(self) -> list[Finished]:
        """One batched model step for every active search; the searches that ended."""
        if not self.active:
            return []
        keys = list(self.active)
        requests = [self.active[k][1] for k in keys]
        started = time.perf_counter()
        try:
            answers = batched_answer(self.stepper, requests)
        except Exception:  # a malformed request: answer one by one so only its search fails
            answers = []
            for request in requests:
                try:
                    answers.append(batched_answer(self.stepper, [request])[0])
                except Exception as error:
                    answers.append(error)
        middle = time.perf_counter()
        finished = []
        for key, answer in zip(keys, answers, strict=True):
            search = self.active[key][0]
            if isinstance(answer, Exception):
                self.active.pop(key)
                search.close()
                finished.append(Finished(key, error=answer))
                continue
            done = self._resume(key, search, answer)
            if done is not None:
                finished.append(done)
        rows = sum(r.tokens.numel() for r in requests)
        self.stats.add(len(keys), rows, started, middle)
        return finished

    def run(self, searches: dict) -> dict[object, Finished]:
        """Every search of {key: search} to its end, all in flight at once (tests, benches)."""
        return run_all(self, searches)


def batched_answer(stepper: Stepper, requests: list[Predict]) -> list[tuple]:
    """Answer many Predicts with one advance and at most one full and one forced
    log-probability pass; each answer as `engine.decode.answer` would give it."""
    sizes = [r.tokens.numel() for r in requests]
    tokens = torch.cat([r.tokens for r in requests])  # (N,)
    h0 = torch.cat([r.state[0] for r in requests], 1)  # (L, N, H)
    c0 = torch.cat([r.state[1] for r in requests], 1)
    h, (hs, cs) = stepper.advance(tokens, (h0, c0))  # (N, H)
    starts = torch.tensor([0, *sizes]).cumsum(0).tolist()
    full = [i for i, r in enumerate(requests) if r.scores and r.forced is None]
    forced = [i for i, r in enumerate(requests) if r.scores and r.forced is not None]
    lps: dict[int, torch.Tensor] = {}
    for group in (full, forced):
        if not group:
            continue
        rows = torch.cat([torch.arange(starts[i], starts[i + 1]) for i in group])
        if group is forced:
            want = torch.cat([_targets(requests[i], sizes[i]) for i in group])
            out = stepper.token_log_probs(h.index_select(0, rows), want)
        else:
            out = stepper.log_probs(h.index_select(0, rows))
        for i, part in zip(group, out.split([sizes[i] for i in group]), strict=True):
            lps[i] = part
    answers = []
    for i in range(len(requests)):
        a, b = starts[i], starts[i + 1]
        state: Hidden = (hs[:, a:b], cs[:, a:b])
        answers.append((lps.get(i), state))
    return answers


def _targets(request: Predict, rows: int) -> torch.Tensor:
    """A forced Predict's ids, one per row."""
    if isinstance(request.forced, torch.Tensor):
        return request.forced
    return torch.full((rows,), request.forced)
