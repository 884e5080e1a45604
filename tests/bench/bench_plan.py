"""The plan's cost: the default call's CPU time with the planner and keyword search against the
same call without them, on the same model in the same process, one torch thread, interleaved.

    python -m tests.bench.bench_plan [--model DIR] [--rounds 3]

Prints the medians per poem and their ratio, over the public heads and the held-out names with
occasions, and how many of the heads got a plan. Then the batched path (engine.lockstep, as a
worker process runs it): the same requests all in flight at once, poems/s and CPU ms a poem
with the plan and without, alternating rounds. A planned poem runs engine.decode's own search
there (its model steps batched with the others'), not the vectorised search step."""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bot.operations.retrain_inputs import HEADS_FILE
from engine import PoemSpec, Poet
from tests import REPO_ROOT
from tests.bench import machine
from train.evaluate import read_heads

NAMES = REPO_ROOT / "docs" / "eval" / "heads-names-occasions.txt"


def requests() -> list[tuple[str, str | None]]:
    names = [tuple(line.split()) for line in read_heads(NAMES)]
    return [(h, None) for h in read_heads(HEADS_FILE)] + [(h, t) for h, t in names]


def cpu_ms(poet: Poet, spec: PoemSpec) -> float:
    started = time.process_time()
    poet.acrostic(spec)
    return (time.process_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine.describe())
    poet = Poet.load(args.model)
    todo = requests()
    for head, theme in todo[:5]:  # warm-up: numba, rjieba, the cliché table
        poet.acrostic(PoemSpec(head, theme=theme))
    planned = sum(
        bool(any(poet.acrostic(PoemSpec(h, theme=t)).params.get("outline", ()))) for h, t in todo
    )
    times = {True: [], False: []}
    for _ in range(args.rounds):
        for head, theme in todo:
            for outline in (False, True):  # interleaved: the VM's drift hits both alike
                times[outline].append(cpu_ms(poet, PoemSpec(head, theme=theme, outline=outline)))
    base, plan = statistics.median(times[False]), statistics.median(times[True])
    mean_base, mean_plan = statistics.fmean(times[False]), statistics.fmean(times[True])
    print(f"model {poet.model_version}, {len(todo)} requests × {args.rounds} rounds, 1 thread; "
          f"{planned} of them planned")  # fmt: skip
    print(f"default call without a plan: median {base:.1f} ms CPU, mean {mean_base:.1f}")
    print(f"default call with the plan:  median {plan:.1f} ms CPU, mean {mean_plan:.1f}")
    print(f"ratio: median {plan / base:.2f}x, mean {mean_plan / mean_base:.2f}x")
    batched(poet, todo, args.rounds)


def batched(poet: Poet, todo: list[tuple[str, str | None]], rounds: int) -> None:
    from engine.lockstep.search import Lockstep

    rates: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(rounds):
        for outline in (False, True):
            specs = {i: PoemSpec(h, theme=t, outline=outline) for i, (h, t) in enumerate(todo)}
            cpu, wall = time.process_time(), time.perf_counter()
            Lockstep(poet).run(specs)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rates[outline].append((len(specs) / wall, cpu * 1000 / len(specs)))
    for outline in (False, True):
        rate = statistics.median(r for r, _ in rates[outline])
        ms = statistics.median(m for _, m in rates[outline])
        label = "with the plan: " if outline else "without a plan:"
        print(
            f"batched, {len(todo)} in flight, {label} median {rate:.1f} poems/s, {ms:.1f} ms CPU a poem"
        )
    ratio = statistics.median(r for r, _ in rates[False]) / statistics.median(
        r for r, _ in rates[True]
    )
    print(f"batched throughput without / with the plan: {ratio:.2f}x")


if __name__ == "__main__":
    main()
