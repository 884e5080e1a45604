"""Where a poem's CPU time goes (prints numbers; not a test): the engine alone, one thread.

    python -m tests.bench.time_spent [--decoding diverse|beam] [--inflight C] [--steps N]

For one decoding, in one process:
- worker: the public heads one after another through Poet.acrostic, as a worker process
  runs them (first: run after Lockstep's, in the same process, it took ~15% longer);
- batched: a stream of the same heads through engine.lockstep, C in flight, a new poem
  joining as one leaves (bench-bot's load without the bot).

For each: ms a poem, and per phase (the method that runs, innermost first: a phase's time
leaves out the phases it calls) its time and the part of it spent inside the int8 matmul
kernels, with the multiply-adds they did (GMAC a poem, GMAC/s). The phases fall into three
parts: the LSTM (the model step), the output layer (each row's candidates and the forced
slots' log-probabilities) and the search's bookkeeping (everything else: selection, rules,
beams, the rerank passes' own Python). Timers cost a little; compare the parts, not the total
with bench_batching's.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from contextlib import contextmanager

import torch

from bot.operations.retrain_inputs import HEADS_FILE
from engine import Poet
from engine.lockstep.candidates import Candidates
from engine.lockstep.finish import Finishing, Passes
from engine.lockstep.scheduler import StepScheduler
from engine.lockstep.search import Lockstep
from engine.lockstep.select import Selection
from engine.spec import PoemSpec
from engine.stepper import Stepper
from tests.bench import machine
from train.evaluate import read_heads

DECODINGS = {"beam": {"mode": "beam", "beam_size": 8}, "diverse": {"mode": "diverse"}}
LSTM, OUTPUT, SEARCH = "LSTM", "output layer", "search bookkeeping"
PHASES = [  # (class, method, part); a method's time is its own, less the phases it calls
    (Stepper, "advance", LSTM),
    (Stepper, "log_probs", OUTPUT),
    (Stepper, "token_log_prob", OUTPUT),
    (Stepper, "token_log_probs", OUTPUT),
    (Candidates, "_candidates", OUTPUT),
    (Lockstep, "step", SEARCH),
    (Lockstep, "_model_step", SEARCH),
    (Lockstep, "_search_step", SEARCH),
    (Candidates, "_choose", SEARCH),
    (Candidates, "_phrase_penalties", SEARCH),
    (Selection, "_select", SEARCH),
    (Selection, "_keep_all", SEARCH),
    (Selection, "_redo", SEARCH),
    (Passes, "step", SEARCH),
    (Finishing, "_finish_all", SEARCH),
    (StepScheduler, "step", SEARCH),
    (Poet, "plan", SEARCH),  # a poem's rules and skeleton, before its first step
]
KERNELS = [  # int8 matmuls: (namespace, op); input (rows, in), output (rows, out)
    (torch.ops.quantized, "linear_dynamic"),
    (torch.ops.quantized, "linear_with_input_q_dq_qweight_dq_output_fp32"),
    (torch.ops.onednn, "qlinear_pointwise"),
]
OUTSIDE = "(outside the phases)"


class Ledger:
    """Exclusive time per phase, and the int8 kernels' time and multiply-adds inside each."""

    def __init__(self):
        self.wall, self.kernel, self.macs = Counter(), Counter(), Counter()
        self.stack = [OUTSIDE]

    def clear(self) -> None:
        for counter in (self.wall, self.kernel, self.macs):
            counter.clear()

    def _phase(self, method, label: str):
        def timed(*args, **kwargs):
            self.stack.append(label)
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                self.stack.pop()
                self.wall[label] += spent
                self.wall[self.stack[-1]] -= spent  # the caller's time is its own only

        return timed

    def _kernel(self, op):
        def timed(x, *args, **kwargs):
            started = time.perf_counter()
            y = op(x, *args, **kwargs)
            self.kernel[self.stack[-1]] += time.perf_counter() - started
            self.macs[self.stack[-1]] += x.size(0) * x.size(1) * y.size(1)
            return y

        return timed

    @contextmanager
    def watching(self):
        """Every phase and kernel timed while inside; all put back after."""
        saved = []
        for cls, name, _ in PHASES:
            saved.append((cls, name, cls.__dict__[name]))
            setattr(cls, name, self._phase(cls.__dict__[name], f"{cls.__name__}.{name}"))
        for namespace, name in KERNELS:
            op = getattr(namespace, name, None)
            if op is not None:
                saved.append((namespace, name, op))
                setattr(namespace, name, self._kernel(op))
        try:
            yield self
        finally:
            for owner, name, original in reversed(saved):
                setattr(owner, name, original)

    def parts(self, seconds: float) -> dict[str, tuple[float, float, int]]:
        """{part: (seconds, kernel seconds, multiply-adds)} of a run that took `seconds`; the
        search's time is what the LSTM and the output layer leave (the driving loop's too)."""
        part_of = {f"{cls.__name__}.{name}": part for cls, name, part in PHASES}
        part_of[OUTSIDE] = SEARCH
        out = {LSTM: [0.0, 0.0, 0], OUTPUT: [0.0, 0.0, 0], SEARCH: [0.0, 0.0, 0]}
        for label in set(self.wall) | set(self.kernel):
            row = out[part_of[label]]
            row[0] += self.wall[label]
            row[1] += self.kernel[label]
            row[2] += self.macs[label]
        out[SEARCH][0] = seconds - out[LSTM][0] - out[OUTPUT][0]
        return {part: tuple(row) for part, row in out.items()}


def batched(poet, specs: list[PoemSpec], inflight: int, steps: int, ledger: Ledger) -> tuple:
    """(seconds, poems) of `steps` Lockstep steps on a stream of `specs` (cycled)."""
    scheduler, submitted, done = Lockstep(poet), 0, 0

    def fill():
        nonlocal submitted
        while len(scheduler) < inflight:
            scheduler.submit(submitted, specs[submitted % len(specs)])
            submitted += 1

    fill()
    for _ in range(steps // 3):  # into a steady stream
        scheduler.step()
        fill()
    ledger.clear()
    started = time.perf_counter()
    for _ in range(steps):
        done += len(scheduler.step())
        fill()
    return time.perf_counter() - started, done


def worker(poet, specs: list[PoemSpec], ledger: Ledger) -> tuple:
    """(seconds, poems) of the specs one after another, as a worker process runs them."""
    for spec in specs[:3]:  # warm
        poet.acrostic(spec)
    ledger.clear()
    started = time.perf_counter()
    for spec in specs:
        poet.acrostic(spec)
    return time.perf_counter() - started, len(specs)


def report(name: str, seconds: float, poems: int, ledger: Ledger) -> list[str]:
    ms = lambda s: s / poems * 1000  # noqa: E731 (seconds in all → ms a poem)
    lines = [f"{name}: {ms(seconds):.1f} ms a poem ({poems} poems)"]
    lines.append(f"  {'part':<20}{'ms':>8}{'int8 ms':>9}{'other ms':>10}{'GMAC':>8}{'GMAC/s':>8}")
    kernels = macs = 0.0
    for part, (wall, kernel, mac) in ledger.parts(seconds).items():
        rate = f"{mac / kernel / 1e9:.0f}" if kernel else "-"
        lines.append(
            f"  {part:<20}{ms(wall):>8.2f}{ms(kernel):>9.2f}{ms(wall - kernel):>10.2f}"
            f"{mac / poems / 1e9:>8.3f}{rate:>8}"
        )
        kernels, macs = kernels + kernel, macs + mac
    lines.append(
        f"  int8 kernels in all: {ms(kernels):.2f} ms, {macs / poems / 1e9:.3f} GMAC a poem"
    )
    own = sorted(
        ((t, label) for label, t in ledger.wall.items() if label != OUTSIDE), reverse=True
    )
    lines.append("  phases, each less the phases it calls (ms a poem):")
    lines += [f"    {ms(t):6.2f}  {label}" for t, label in own if ms(t) >= 0.05]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoding", choices=sorted(DECODINGS), default="diverse")
    parser.add_argument("--inflight", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--poems", type=int, help="the worker's poems (default: every head once)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    poet = Poet.load()
    specs = [PoemSpec(head, **DECODINGS[args.decoding]) for head in read_heads(HEADS_FILE)]
    print(machine.describe())
    print(f"decoding: {args.decoding}; public heads ({len(specs)}), one thread")
    ledger = Ledger()
    with ledger.watching():  # the worker first: after Lockstep's run it was ~15% slower
        seconds, poems = worker(poet, specs[: args.poems or len(specs)], ledger)
        print("\n".join(report("worker", seconds, poems, ledger)))
        seconds, poems = batched(poet, specs, args.inflight, args.steps, ledger)
        print("\n".join(report(f"batched, {args.inflight} in flight", seconds, poems, ledger)))


if __name__ == "__main__":
    main()
