"""Lockstep benchmark (prints numbers; not a test): the engine alone, no bot, no processes.

    python -m tests.bench.bench_batching [--poems N] [--inflight C] [--stream-s S]

For the old decoding (beam 8) and the default (diverse groups + rerank), in one process:
- direct: Poet.acrostic one poem after another (int8 stepper, no scheduler);
- alone: one poem at a time through engine.lockstep (its int8-rows batch stepper);
- saturated: C poems in flight through Lockstep, a new one joining as one leaves: poems/s,
  mean requests and rows per step, and where the time goes (the batched model step vs the
  vectorised search step, and the rerank's passes). Every saturated poem is checked
  against its alone twin. These poems have the same length, so they move in cohorts;
- a stream: the default search on the 111 public heads (2 to 5 lines), a new poem joining
  as soon as one leaves, so poems are at every slot at once, as bench-bot's load is: poems/s
  with 16, 32 and 64 in flight, against direct on the same heads;
- step per row: median µs of one model step (advance + full log-probabilities) per row at
  batch 8 … 256, for the direct and the batch stepper: what batching can save at most.
"""

from __future__ import annotations

import argparse
import time

import torch

from bot.operations.retrain_inputs import HEADS_FILE
from engine import Poet
from engine.lockstep.search import Lockstep
from engine.spec import PoemSpec
from tests.bench import machine
from tests.bench.bench_engine import HEADS
from train.evaluate import read_heads

DECODINGS = {"beam 8": {"mode": "beam", "beam_size": 8}, "diverse": {"mode": "diverse"}}


def specs(decoding: dict, n: int) -> list[PoemSpec]:
    return [PoemSpec(HEADS[i % len(HEADS)], **decoding) for i in range(n)]


def direct(poet: Poet, todo: list[PoemSpec]) -> float:
    started = time.perf_counter()
    for spec in todo:
        poet.acrostic(spec)
    return (time.perf_counter() - started) / len(todo) * 1000


def alone(poet: Poet, todo: list[PoemSpec]) -> tuple[float, list]:
    poems, started = [], time.perf_counter()
    for spec in todo:
        poems.append(Lockstep(poet).run({0: spec})[0])
    return (time.perf_counter() - started) / len(todo) * 1000, [p.result for p in poems]


def saturated(poet: Poet, todo: list[PoemSpec], inflight: int) -> tuple[float, Lockstep, dict]:
    scheduler, results, queue = Lockstep(poet), {}, list(enumerate(todo))
    started = time.perf_counter()
    while queue or scheduler.active:
        while queue and len(scheduler) < inflight:
            i, spec = queue.pop(0)
            done = scheduler.submit(i, spec)
            if done is not None:
                results[i] = done
        for done in scheduler.step():
            results[done.key] = done
    return len(todo) / (time.perf_counter() - started), scheduler, results


def stream(poet: Poet, todo: list[PoemSpec], inflight: int, seconds: float) -> float:
    """Poems/s of an endless stream through Lockstep (a new poem joins as soon as one
    leaves, so poems are at every slot at once, as in the bot): finished in `seconds` after
    as long again of the same load."""
    scheduler, queue, done = Lockstep(poet), iter(enumerate(todo * 1000)), 0
    started = time.perf_counter()
    counted_from = None
    while (now := time.perf_counter()) - started < 2 * seconds:
        if counted_from is None and now - started >= seconds:
            counted_from, done = now, 0
        while len(scheduler) < inflight:
            i, spec = next(queue)
            scheduler.submit(i, spec)
        done += len(scheduler.step())
    return done / (time.perf_counter() - counted_from)


def mixed_heads(poet: Poet, seconds: float) -> None:
    """The default search on the 111 public heads (2 to 5 lines), as bench-bot sends them."""
    todo = [PoemSpec(h) for h in read_heads(HEADS_FILE)]
    direct(poet, todo[:4])
    direct_ms = direct(poet, todo)
    rates = {n: stream(poet, todo, n, seconds) for n in (16, 32, 64)}
    cells = "   ".join(f"{n} in flight {r:5.1f} poems/s ({r * direct_ms / 1000:4.2f}x)"
                       for n, r in rates.items())  # fmt: skip
    print(f"public heads, default search: direct {direct_ms:6.1f} ms/poem ({1000 / direct_ms:5.1f}"
          f"/s); a stream through lockstep: {cells}")  # fmt: skip


BATCHES = (8, 16, 32, 64, 128, 256)


def step_per_row(stepper, batch: int, reps: int = 40) -> float:
    """Median µs per row of one advance + log_probs at this batch size."""
    tokens = torch.randint(0, stepper.in_table.size(0), (batch,))
    state = stepper.initial(batch)
    _, state = stepper.advance(tokens, state)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        stepper.log_probs(stepper.advance(tokens, state)[0])
        times.append(time.perf_counter() - started)
    return sorted(times)[reps // 2] / batch * 1e6


def step_curve(poet: Poet) -> dict[str, dict[int, float]]:
    curve = {}
    for stepper in (poet.stepper, poet.batch_stepper):
        curve[stepper.precision] = {b: step_per_row(stepper, b) for b in BATCHES}
        cells = "  ".join(f"{b}: {us:5.1f}" for b, us in curve[stepper.precision].items())
        print(f"step per row, {stepper.precision:9} µs at batch {cells}")
    return curve


def main(args) -> None:
    torch.set_num_threads(1)
    poet = Poet.load()
    print(f"model {poet.model_version}: direct stepper {poet.stepper.precision}, "
          f"batch stepper {poet.batch_stepper.precision}; 1 torch thread")  # fmt: skip
    print(f"machine: {machine.describe()}")
    with torch.inference_mode():
        step_curve(poet)
    for name, decoding in DECODINGS.items():
        warm = specs(decoding, 8)
        direct(poet, warm), alone(poet, warm)
        todo = specs(decoding, args.poems)
        direct_ms = direct(poet, todo[: args.poems // 2])
        alone_ms, expected = alone(poet, todo)
        rate, scheduler, results = saturated(poet, todo, args.inflight)
        same = sum(results[i].result == expected[i] for i in range(len(todo)))
        s = scheduler.stats
        print(f"{name:8} direct {direct_ms:6.1f} ms/poem ({1000 / direct_ms:5.1f}/s)   "
              f"alone in lockstep {alone_ms:6.1f} ms ({alone_ms / direct_ms:4.2f}x direct)   "
              f"saturated ({args.inflight} in flight) {rate:6.1f} poems/s "
              f"({rate * direct_ms / 1000:4.2f}x direct)")  # fmt: skip
        spent = s.step_s + s.search_s + s.pass_s
        print(f"{'':8} mean batch {s.mean_batch:5.1f} requests, {s.rows / s.steps:6.1f} rows "
              f"a step; time: model step {s.step_s / spent:4.0%}, search code "
              f"{s.search_s / spent:4.0%}, rerank passes {s.pass_s / spent:4.0%}; "
              f"{same}/{len(todo)} poems identical to alone")  # fmt: skip
        poems = len(todo)
        print(f"{'':8} per poem: model step {s.step_s / poems * 1000:5.1f} ms, search step "
              f"{s.search_s / poems * 1000:5.1f} ms (candidates from the output layer, rules, "
              f"selection), rerank pass {s.pass_s / poems * 1000:5.1f} ms")  # fmt: skip
    mixed_heads(poet, args.stream_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poems", type=int, default=64)
    parser.add_argument("--inflight", type=int, default=32)
    parser.add_argument("--stream-s", type=float, default=8.0, help="stream window, seconds")
    main(parser.parse_args())
