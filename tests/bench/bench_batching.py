"""Step scheduler benchmark (prints numbers; not a test): the engine alone, no bot.

    python -m tests.bench.bench_batching [--poems N] [--inflight C]

For the old decoding (beam 8) and the default (diverse groups + rerank), in one process:
- direct: Poet.acrostic one poem after another (int8 stepper, no scheduler);
- alone: one poem at a time through the step scheduler (its bf16/fp32 batch stepper);
- saturated: C poems in flight through the scheduler, a new one joining as one leaves:
  poems/s, mean requests and rows per step, and where the time goes (batched model step vs
  the searches' own code). Every saturated poem is checked against its alone twin.
"""

from __future__ import annotations

import argparse
import time

import torch

from engine import Poet
from engine.batching import StepScheduler
from engine.spec import PoemSpec
from tests.bench.bench_engine import HEADS

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
        poems.append(StepScheduler(poet.batch_stepper).run({0: poet.acrostic_steps(spec)})[0])
    return (time.perf_counter() - started) / len(todo) * 1000, [p.result for p in poems]


def saturated(
    poet: Poet, todo: list[PoemSpec], inflight: int
) -> tuple[float, StepScheduler, dict]:
    scheduler, results, queue = StepScheduler(poet.batch_stepper), {}, list(enumerate(todo))
    started = time.perf_counter()
    while queue or scheduler.active:
        while queue and len(scheduler) < inflight:
            i, spec = queue.pop(0)
            done = scheduler.submit(i, poet.acrostic_steps(spec))
            if done is not None:
                results[i] = done
        for done in scheduler.step():
            results[done.key] = done
    return len(todo) / (time.perf_counter() - started), scheduler, results


def main(args) -> None:
    torch.set_num_threads(1)
    poet = Poet.load()
    print(f"model {poet.model_version}: direct stepper {poet.stepper.precision}, "
          f"batch stepper {poet.batch_stepper.precision}; 1 torch thread")  # fmt: skip
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
              f"alone in scheduler {alone_ms:6.1f} ms ({alone_ms / direct_ms:4.2f}x direct)   "
              f"saturated ({args.inflight} in flight) {rate:6.1f} poems/s "
              f"({rate * direct_ms / 1000:4.2f}x direct)")  # fmt: skip
        print(f"{'':8} mean batch {s.mean_batch:5.1f} requests, {s.rows / s.steps:6.1f} rows "
              f"a step; time: model step {s.step_s / (s.step_s + s.search_s):4.0%}, "
              f"search code {s.search_s / (s.step_s + s.search_s):4.0%}; "
              f"{same}/{len(todo)} poems identical to alone")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poems", type=int, default=64)
    parser.add_argument("--inflight", type=int, default=32)
    main(parser.parse_args())
