"""Lockstep's last steps: each finished search's final hypotheses into its poem.

A poem of the default search still needs its rerank's pass without the theme over its
finalists (Poet.rerank_pass): one model step per character, each distinct prefix of the
finalists fed once (engine.rerank.plain_pass). Passes holds a pass for every such poem and
advances them all with one model step, their bookkeeping vectorised as the searches' is: a
few tensor operations per step for every pass in flight, where a search generator per poem
cost about 150 µs a step each. The rows are the batch stepper's, so a poem's numbers are the
ones plain_pass gives it alone, bit for bit, beside any other passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.decode import Decoded
from engine.lockstep.scheduler import Finished
from engine.rerank import trie_levels

# trie levels (characters) a pass advances per scheduler step: 8 costs what 1 does per poem
# (in-engine, 32 in flight) and ends a 七言 pass in 4 steps instead of 32; all 32 at once
# costs ~25% more (few rows a model step)
LEVELS = 8


@dataclass
class _Pass:
    """One poem's pass: the trie levels still to feed and what they summed so far."""

    key: object
    plan: object  # engine.poet.Plan
    finals: list[Decoded]
    levels: list[tuple[list[int], list[int], list[int], list[int]]]  # fed, parent, target, member
    total: torch.Tensor  # (N,) the finalists' summed log-probabilities so far
    start: tuple  # (h, c) after the prefix but its form token, one row
    level: int = 0
    rows: slice | None = None  # its rows in the last pass step's state


class Passes:
    """The rerank passes in flight, stepped together. Not thread-safe: one loop owns it."""

    def __init__(self, poet, stepper, levels: int = LEVELS):
        self.poet, self.stepper, self.levels = poet, stepper, levels
        self.items: dict[object, _Pass] = {}
        self.state = None  # the last pass step's (h, c), every pass's rows
        self._starts: dict[tuple, tuple] = {}  # prefix → state after all but its last token

    def __len__(self) -> int:
        return len(self.items)

    def submit(self, key, plan, finals: list[Decoded], prefix: list[int], seqs: torch.Tensor):
        """Start the pass over `seqs` (N, T) after `prefix`; it joins the next step."""
        levels = trie_levels(seqs, prefix[-1])
        total = torch.zeros(seqs.size(0))
        self.items[key] = _Pass(key, plan, finals, levels, total, self._start(prefix[:-1]))

    def _start(self, lead: list[int]) -> tuple:
        """The state after `lead`, fed one token at a time as plain_pass feeds it (once)."""
        state = self._starts.get(tuple(lead))
        if state is None:
            state = self.stepper.initial(1)
            for token in lead:
                _, state = self.stepper.advance(torch.tensor([token]), state)
            self._starts[tuple(lead)] = state
        return state

    @torch.inference_mode()
    def step(self) -> list[Finished]:
        """`levels` model steps for every pass; the poems whose pass ended."""
        results = []
        for _ in range(self.levels):
            if self.items:
                results += self._level()
        return results

    def _level(self) -> list[Finished]:
        """One model step for every pass; the poems whose pass ended."""
        items, results = list(self.items.values()), []
        try:
            self.state = self._step(items, self.state)
        except Exception:  # find the pass that breaks the step; the others go on
            states, at = [], 0
            for item in items:
                try:
                    state = self._step([item], self.state)
                except Exception as error:
                    del self.items[item.key]
                    results.append(Finished(item.key, error=error))
                    continue
                item.rows = slice(at + item.rows.start, at + item.rows.stop)
                states.append(state)
                at += state[0].size(1)
            h, c = [s[0] for s in states], [s[1] for s in states]
            self.state = (torch.cat(h, 1), torch.cat(c, 1)) if states else None
        return results + self._ended()

    def _step(self, items: list[_Pass], state: tuple | None) -> tuple:
        """Feed every item its next level from `state` (the last step's); the new state.
        An item's rows, total and level are replaced only once the step has succeeded."""
        fed, parent, target, member, totals, parts = [], [], [], [], [], []
        h0, c0 = state if state is not None else self.stepper.initial(0)
        starts, at = [], 0
        for item in items:
            f, p, t, m = item.levels[item.level]
            if item.level == 0:  # from its own start state, appended below the last step's
                p = [h0.size(1) + len(starts)] * len(p)
                starts.append(item.start)
            else:
                p = [item.rows.start + x for x in p]
            fed += f
            parent += p
            target += t
            member += [at + x for x in m]
            totals.append(item.total)
            parts.append((item, slice(at, at + len(f))))
            at += len(f)
        if starts:
            h0 = torch.cat([h0, *(s[0] for s in starts)], 1)
            c0 = torch.cat([c0, *(s[1] for s in starts)], 1)
        index = torch.tensor(parent)
        top, new = self.stepper.advance(
            torch.tensor(fed), (h0.index_select(1, index), c0.index_select(1, index))
        )
        lp = self.stepper.token_log_probs(top, torch.tensor(target))
        sums = torch.cat(totals) + lp[torch.tensor(member)]
        for (item, rows), total in zip(
            parts, sums.split([t.numel() for t in totals]), strict=True
        ):
            item.rows, item.total, item.level = rows, total, item.level + 1
        return new

    def _ended(self) -> list[Finished]:
        results = []
        for item in [i for i in self.items.values() if i.level == len(i.levels)]:
            del self.items[item.key]
            try:
                poem = self.poet.finish(item.plan, item.finals, item.total)
                results.append(Finished(item.key, poem))
            except Exception as error:  # this poem alone fails
                results.append(Finished(item.key, error=error))
        if not self.items:
            self.state = None
        return results


class Finishing:
    def _finish_all(self, requests: list) -> list[Finished]:
        """The poems that need no pass; the others go on in `passes`."""
        results = []
        for r in requests:
            self.requests.pop(r.key, None)  # its search is over
            try:
                finals = self._finals(r)
                needed = self.poet.rerank_pass(r.plan, finals)
                if needed is None:
                    results.append(Finished(r.key, self.poet.finish(r.plan, finals)))
                else:
                    self.passes.submit(r.key, r.plan, finals, *needed)
            except Exception as error:  # this poem alone fails
                results.append(Finished(r.key, error=error))
        return results

    @staticmethod
    def _finals(request) -> list[Decoded]:
        """The request's final rows as engine.decode.beam_steps returns them, best first."""
        n = request.slots
        order = request.scores.argsort(descending=True).tolist()
        return [
            Decoded(
                request.ids[i].tolist(),
                float(request.logp[i]) / n,
                int(request.relaxed[i]),
                int(request.start[i]),
                float(request.scores[i] - request.logp[i]),
            )
            for i in order
        ]
