"""Lockstep's search step, part two: the (diverse) beam selection over every request's rows,
the whole-vocabulary redo, and recording the choices (engine.lockstep). A mixin."""

from __future__ import annotations

import torch

from engine.constraints import RELAX_NOVELTY, RELAX_RHYME, HypState
from engine.decode import _select

NEG_INF = float("-inf")


class Selection:
    def _select(self, requests, owner, total, cand, kth, scores, novel, wanted, flagged) -> list:
        """Each (request, group) unit's best continuations, group by group (a later group
        pays `diversity` for characters earlier groups of its request chose); `novel` and
        `wanted` per request: whether its slot ends a line, and how many picks its groups
        look at before the beam width is kept. Adds to
        `flagged` the requests whose choice a character outside the candidates could beat.
        Returns per request (rows, candidate index, relaxed flags, group) in beam order."""
        K = total.size(1)
        R = len(requests)
        group = torch.cat([r.group for r in requests])
        groups = max(r.plan.groups for r in requests)
        used = torch.zeros(R, self.V)
        width = torch.tensor([r.plan.width for r in requests])
        diversity = torch.tensor([r.plan.diversity for r in requests])
        bound = scores + kth  # a row's best score from outside its candidates
        parts: list[tuple] = []
        for g in range(groups):
            rows = (group == g).nonzero().squeeze(1)
            if not rows.numel():
                continue
            units, unit = owner[rows].unique_consecutive(return_inverse=True)
            block = total[rows]
            if g:
                penalty = (
                    diversity[owner[rows]].unsqueeze(1)
                    * used[owner[rows].unsqueeze(1), cand[rows]]
                )
                block = block - penalty
            counts = torch.bincount(unit)
            rank = (
                torch.arange(rows.numel())
                - torch.cat([torch.tensor([0]), counts.cumsum(0)[:-1]])[unit]
            )
            M = int(counts.max())
            padded = torch.full((units.numel(), M, K), NEG_INF)
            padded[unit, rank] = block
            n = int(wanted[units].max())
            top_values, top_index = padded.view(units.numel(), -1).topk(min(n, M * K), 1)
            col = torch.arange(top_values.size(1)).unsqueeze(0)
            want = wanted[units].unsqueeze(1)
            valid = (col < want) & torch.isfinite(top_values)
            # exact when the last wanted value beats every row's outside bound
            unit_bound = torch.full((units.numel(),), NEG_INF).scatter_reduce(
                0, unit, bound[rows], "amax"
            )
            found = valid.sum(1)
            last = top_values.gather(1, (want - 1).clamp(max=top_values.size(1) - 1)).squeeze(1)
            enough = found >= wanted[units]
            exact = torch.where(enough, last > unit_bound, unit_bound == NEG_INF)
            flagged.update(units[~exact].tolist())
            member = rows.new_zeros(units.numel(), M)
            member[unit, rank] = rows
            pick_rows = member.gather(1, top_index // K)
            pick_k = top_index % K
            tok = cand[pick_rows, pick_k]
            novelty = novel[units].unsqueeze(1) & valid
            copied = torch.zeros_like(valid)
            if bool(novelty.any()):
                lines = self.lines
                hashes = lines.advance(
                    torch.cat([r.line_hash for r in requests])[pick_rows[novelty]], tok[novelty]
                )
                copied[novelty] = lines.contains(hashes)
            all_copied = (copied | ~valid).all(1) & novel[units]
            keep = valid & (all_copied.unsqueeze(1) | ~copied)
            keep &= keep.cumsum(1) <= width[units].unsqueeze(1)
            flags = torch.where(all_copied, RELAX_NOVELTY, 0).unsqueeze(1).expand_as(keep)
            u, col = keep.nonzero(as_tuple=True)  # unit-major, best first within a unit
            taken = tok[u, col]
            used.index_put_((units[u], taken), torch.ones(1))
            parts.append((units[u], pick_rows[u, col], pick_k[u, col], flags[u, col],
                          torch.full_like(taken, g)))  # fmt: skip
        # per request: its groups in order, each group's picks best first
        owner_of, rows, k, flags, group_of = (torch.cat(p) for p in zip(*parts, strict=True))
        order = owner_of.argsort(stable=True)
        counts = torch.bincount(owner_of, minlength=R).tolist()
        split = [t[order].split(counts) for t in (rows, k, flags, group_of)]
        return [tuple(t[i] for t in split) if counts[i] else None for i in range(R)]

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
        rows, tok, relaxed, group = _select(
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
