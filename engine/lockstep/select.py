"""Lockstep's search step, part two: the (diverse) beam selection over every request's rows,
the whole-vocabulary redo, and recording the choices (engine.lockstep). A mixin."""

from __future__ import annotations

import torch

from engine.constraints import RELAX_NOVELTY, RELAX_RHYME, HypState
from engine.lockstep import kernels
from engine.selection import select


class Selection:
    def _select(self, requests, total, cand, bound, novel, wanted, flagged) -> list:
        """Each (request, group) unit's best continuations, group by group (a later group
        pays `diversity` for characters earlier groups of its request chose), as
        engine.decode._select makes them (engine.lockstep.kernels.select); `bound` (N,): the most a
        row's characters outside its candidates can total; `novel` and `wanted` per
        request: whether its slot ends a line, and how many picks its groups look at before
        the beam width is kept. Adds to `flagged` the requests whose choice a character
        outside the candidates could beat. Returns per request (rows, candidate index,
        relaxed flags, group) in beam order, None where it has no pick."""
        group = torch.cat([r.group for r in requests])
        chosen, inexact = kernels.select(
            requests, total, cand, group, bound, wanted, novel, self.lines, RELAX_NOVELTY, self.V
        )
        flagged.update(inexact)
        return chosen

    def _redo(self, request, lp: torch.Tensor, ids: torch.Tensor) -> None:
        """This request's step over the whole vocabulary, with engine.decode's own code."""
        plan, slot = request.plan, request.slot
        constraints = plan.constraints
        counts = torch.zeros(request.rows, self.V, dtype=torch.int32)
        counts.scatter_add_(1, ids.clamp(min=0), (ids >= 0).int())
        state = HypState(
            counts, request.rhyme_set, request.relaxed, request.start, request.line_hash,
            ids[:, :slot],
        )  # fmt: skip
        objective, relaxed = constraints.objective(lp, state, slot)
        total = request.scores.unsqueeze(1) + objective
        rows, tok, relaxed, group = select(
            total, request.group, plan.groups, plan.width, plan.diversity, constraints, state,
            slot, relaxed,
        )  # fmt: skip
        self._keep(request, rows, group, total[rows, tok], request.logp[rows] + lp[rows, tok])
        self._advance(request, tok, relaxed, forced=False)

    def _keep_all(self, everyone, chosen, flagged, ids, slot, total, values, cand) -> None:
        """_keep and _advance at once for every request of the step but the flagged ones,
        on rows numbered as in `ids` (all of `everyone`'s rows, in order): each request's
        new beam is its chosen rows, each continued by its chosen candidate."""
        kept = [i for i in range(len(everyone)) if i not in flagged]
        if not kept:
            return
        requests = [everyone[i] for i in kept]
        rows, k, relaxed, group = (
            torch.cat(t) for t in zip(*(chosen[i] for i in kept), strict=True)
        )
        counts = [chosen[i][0].numel() for i in kept]
        tok = cand[rows, k]
        old = {
            name: torch.cat([getattr(r, name) for r in everyone])[rows]
            for name in ("rhyme_set", "relaxed", "start", "line_hash", "logp")
        }
        state_rows = torch.cat([r.state_rows for r in everyone])[rows]  # where the state is
        h, c = (t.index_select(1, state_rows) for t in self.state)
        new_ids = ids[rows]
        new_ids[torch.arange(rows.numel()), slot[rows]] = tok
        repeat = torch.tensor(counts)
        rule = lambda name: torch.tensor(  # noqa: E731 (a rule at each request's slot, per row)
            [r.rules[name][r.slot] for r in requests]
        ).repeat_interleave(repeat)
        flags, rhyme_set, line_hash = old["relaxed"] | relaxed, old["rhyme_set"], old["line_hash"]
        rhyming = rule("rhyme")
        if bool(rhyming.any()):  # as _advance: narrow the rhyme groups, or relax the rhyme
            narrowed = rhyme_set & self.member[:, tok].T
            ok = narrowed.any(1) | ~rhyming
            rhyme_set = torch.where((ok & rhyming).unsqueeze(1), narrowed, rhyme_set)
            flags = flags | torch.where(ok, 0, RELAX_RHYME)
        novel = torch.tensor([r.plan.constraints.lines is not None for r in requests])
        if bool(novel.any()):  # every request's line index is the Poet's (self.lines)
            running = torch.where(rule("line_start"), 0, line_hash)
            advanced = self.lines.advance(running, tok)
            line_hash = torch.where(novel.repeat_interleave(repeat), advanced, line_hash)
        scores, logp = total[rows, k], old["logp"] + values[rows, k]
        parts = [t.split(counts) for t in (new_ids, rhyme_set, flags, old["start"], line_hash,
                                            scores, logp, group, tok)]  # fmt: skip
        hs, cs = h.split(counts, 1), c.split(counts, 1)
        for i, r in enumerate(requests):
            (r.ids, r.rhyme_set, r.relaxed, r.start, r.line_hash, r.scores, r.logp, r.group,
             r.tokens) = (p[i] for p in parts)  # fmt: skip
            r.ids, r.h, r.c = r.ids[:, : r.slots], hs[i], cs[i]

    @staticmethod
    def _keep(request, rows, group, scores, logp) -> None:
        """The request's new beam: the rows it continues (and their state), in order."""
        for name in ("ids", "rhyme_set", "relaxed", "start", "line_hash"):
            setattr(request, name, getattr(request, name).index_select(0, rows))
        request.h, request.c = request.h.index_select(1, rows), request.c.index_select(1, rows)
        request.group, request.scores, request.logp = group, scores, logp

    def _advance(self, request, tok: torch.Tensor, relaxed: torch.Tensor, forced: bool) -> None:
        """Record the chosen ids (B,) at the request's slot (engine.constraints.advance)."""
        slot, constraints = request.slot, request.plan.constraints
        flags = request.relaxed | relaxed
        if not forced:
            request.ids[:, slot] = tok
        if request.rules["rhyme"][slot]:
            narrowed = request.rhyme_set & self.member[:, tok].T
            ok = narrowed.any(1)
            request.rhyme_set = torch.where(ok.unsqueeze(1), narrowed, request.rhyme_set)
            flags = flags | torch.where(ok, 0, RELAX_RHYME)
        lines = constraints.lines
        if lines is not None:
            running = request.line_hash
            if request.rules["line_start"][slot]:
                running = torch.zeros_like(running)
            request.line_hash = lines.advance(running, tok)
            if forced and request.rules["line_end"][slot]:
                flags = flags | torch.where(lines.contains(request.line_hash), RELAX_NOVELTY, 0)
        request.relaxed = flags
        request.tokens = tok
