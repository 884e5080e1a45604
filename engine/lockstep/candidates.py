"""Lockstep's search step, part one: each row's candidates and the rules that score them
(engine.lockstep). A mixin: it uses the Lockstep's stepper, masks and sizes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.constraints import LOOSE_TONE_PENALTY
from engine.linears import take_rows
from engine.lockstep import kernels

NEG_INF = float("-inf")
ANY, PING_ONLY, ZE_ONLY, KNOWN = 0, 1, 2, 3  # rows of the tone-mask table
MARGIN = 2.0  # nats


class Candidates:
    def _choose(self, free: list) -> None:
        """Every free slot of every request in one pass: candidates, rules, beam selection."""
        requests = [r for r, _ in free]
        sizes = torch.tensor([r.rows for r in requests])
        h = torch.cat([h for _, h in free])  # (N, H) the top layer's output
        owner = torch.arange(len(requests)).repeat_interleave(sizes)  # (N,)
        width = max(r.slots for r in requests)
        ids = torch.cat([F.pad(r.ids, (0, width - r.slots), value=-1) for r in requests])
        scores = torch.cat([r.scores for r in requests])
        at = lambda values: torch.tensor(values)[owner]  # noqa: E731 (per request → per row)
        slot = at([r.slot for r in requests])

        # the K best characters of each row under the masks its history does not change
        need = torch.cat([r.need[r.slot][r.start] for r in requests])  # (N,)
        loose = at([r.loose for r in requests])
        mask = self.tone_masks[torch.where(loose & (need != ANY), KNOWN, need)]
        rhymes = at([r.rules["rhyme"][r.slot] for r in requests]).nonzero().squeeze(1)
        if rhymes.numel():
            rhyme_set = torch.cat([r.rhyme_set for r in requests])[rhymes]
            sets, which = rhyme_set.unique(dim=0, return_inverse=True)  # a few distinct sets
            mask[rhymes] &= ((sets.float() @ self.member_f) > 0)[which]
        groups = max(r.plan.groups for r in requests)
        unit = owner * groups + torch.cat([r.group for r in requests])
        novel = torch.tensor([r.plan.constraints.checks_novelty(r.slot) for r in requests])
        width_of = torch.tensor([r.plan.width for r in requests])
        wanted = width_of * torch.where(novel, 3, 1)  # the search looks further at a line's end
        values, cand, kth = self._candidates(h, mask, scores, unit, wanted[owner])

        objective = kernels.objective(
            requests, values, cand, ids, need, self.ping, self.ze, LOOSE_TONE_PENALTY, ANY,
            PING_ONLY,
        )  # fmt: skip
        self._phrase_penalties(requests, ids, slot, cand, objective)
        total = scores.unsqueeze(1) + objective

        flagged = set(owner[~torch.isfinite(objective).any(1)].tolist())
        chosen = self._select(requests, total, cand, scores + kth, novel, wanted, flagged)
        self._keep_all(requests, chosen, flagged, ids, slot, total, values, cand)
        starts = torch.cat([torch.tensor([0]), sizes.cumsum(0)]).tolist()
        for i in sorted(flagged):
            request = requests[i]
            lp = self.stepper.log_probs(h[starts[i] : starts[i + 1]])
            self._redo(request, lp, ids[starts[i] : starts[i + 1], : request.slots])

    def _candidates(self, h, mask, scores, unit, wanted) -> tuple:
        """Each row's K best candidates among `mask` (N, V): (log-probabilities (N, K) best
        first, ids (N, K), and a bound (N,) no other allowed character exceeds).

        The numbers are Stepper.log_probs' own. The shortlist gives its K best allowed
        characters; a softmax tail cluster only those that could still be chosen. Nothing
        below the row's limit can be: its K-th shortlist candidate, or what its (request,
        group) unit will at least select (the `wanted`-th candidate of the unit's best row,
        less MARGIN nats for the rules that lower scores later). Every character of a cluster
        is less likely than the cluster itself (the head's entry), so a row whose entry is
        below the limit skips the cluster, and that entry joins its bound; a computed cluster
        adds the allowed characters above the limit, and the limit joins the bound. The
        selection's exactness check uses that bound: a request whose choice a left-out
        character could change is redone over the whole vocabulary."""
        stepper, K, N = self.stepper, self.K, h.size(0)
        if not stepper.tails:
            lp = stepper.log_probs(h).masked_fill(~mask, NEG_INF)
            values, cand = lp.topk(K, 1)
            return values, cand, self._bound(values)
        x = stepper.output_input(h)
        head = F.log_softmax(stepper.head(x), dim=-1)  # (N, shortlist + clusters)
        short = stepper.shortlist
        values, cand = kernels.masked_top_k(head[:, :short], mask[:, :short], min(K, short))
        kth = values[:, -1] if short >= K else torch.full((N,), NEG_INF)
        # a row's `wanted`-th candidate (none when it has fewer: then no floor)
        best = scores + values.gather(
            1, (wanted - 1).clamp(max=values.size(1) - 1).unsqueeze(1)
        ).squeeze(1)
        best = torch.where(wanted <= values.size(1), best, NEG_INF)
        floor = torch.full((int(unit.max()) + 1,), NEG_INF).scatter_reduce(0, unit, best, "amax")
        floor = floor[unit] - scores - MARGIN  # (N,) below this a character is not chosen
        limit = torch.maximum(kth, floor)  # nor below this, from a tail
        bound = torch.full((N,), NEG_INF)  # the most a character left out of a tail can have
        found: list[tuple] = []
        lo = short
        for i, (proj, out) in enumerate(stepper.tails):
            hi = stepper.cutoffs[i + 1]
            cluster = head[:, short + i]
            needed = (cluster >= kth) & (cluster > floor)
            bound = torch.where(needed, bound, torch.maximum(bound, cluster))
            rows = needed.nonzero().squeeze(1)
            if rows.numel():
                xr = x if rows.numel() == N else take_rows(x, rows)
                tail = F.log_softmax(out(proj(xr)), dim=-1)
                entry = cluster[rows]
                above = limit[rows] - entry  # only the tail's characters above this can matter
                # fl(a + entry) is monotone in a: what was left out is at most fl(above + entry)
                bound[rows] = torch.maximum(bound[rows], above + entry)
                some = (tail.amax(1) > above).nonzero().squeeze(1)  # few rows have any
                r, j = (tail[some] > above[some].unsqueeze(1)).nonzero(as_tuple=True)
                r = some[r]
                allowed = mask[rows[r], lo + j]
                r, j = r[allowed], j[allowed]
                found.append((rows[r], tail[r, j] + entry[r], j + lo))  # as log_probs adds it
            lo = hi
        if found and sum(f[0].numel() for f in found):
            values, cand = self._merge(
                values, cand, *(torch.cat(t) for t in zip(*found, strict=True))
            )
        return values, cand, torch.maximum(self._bound(values), bound)

    def _merge(self, values, cand, rows, more_values, more_ids) -> tuple:
        """Each row's K best of its candidates (N, ·) and the extra (row, value, id) ones."""
        N = values.size(0)
        order = rows.argsort(stable=True)
        rows, more_values, more_ids = rows[order], more_values[order], more_ids[order]
        counts = torch.bincount(rows, minlength=N)
        rank = torch.arange(rows.numel()) - (counts.cumsum(0) - counts)[rows]
        width = int(counts.max())
        pad_v = torch.full((N, width), NEG_INF)
        pad_i = torch.zeros(N, width, dtype=torch.long)
        pad_v[rows, rank], pad_i[rows, rank] = more_values, more_ids
        values, at = torch.cat([values, pad_v], 1).topk(min(self.K, values.size(1) + width), 1)
        return values, torch.cat([cand, pad_i], 1).gather(1, at)

    def _bound(self, values: torch.Tensor) -> torch.Tensor:
        """What no character outside a row's K candidates can exceed: the K-th candidate's
        log-probability (-inf when the K are the whole vocabulary)."""
        if self.K >= self.V:
            return torch.full((values.size(0),), NEG_INF)
        return values[:, -1]

    def _phrase_penalties(self, requests, ids, slot, cand, objective) -> None:
        """Take each request's cliché and recent-phrase penalties off its rows' candidates, in
        the order engine.constraints adds them (so the sums are the same, bit for bit): per
        row, by n-gram length (PhrasePenalties.sparse). Requests sharing a table (the
        clichés, when a chat has no recent phrases) are looked up together."""
        tables: dict[int, tuple] = {}
        first = 0
        for r in requests:
            table = r.plan.constraints.penalties
            if table:
                tables.setdefault(id(table), (table, []))[1].append((r, first))
            first += r.rows
        if not tables:
            return
        # each row's last `longest` characters before its slot, as Python ints
        longest = max(max(table.lengths) for table, _ in tables.values())
        window = (slot.unsqueeze(1) - longest + torch.arange(longest)).clamp(min=0)
        last = ids.gather(1, window).tolist()
        found_rows, found_counts, found_ids, found_nats = [], [], [], []
        for table, members in tables.values():
            lookup = table.by_prefix.get
            for r, first in members:
                pos = r.rules["pos"][r.slot]
                cuts = [longest - n for n in table.lengths if pos >= n]  # n-gram starts
                for row in range(first, first + r.rows) if cuts else ():
                    chars = last[row]
                    for cut in cuts:  # by length, as sparse finds them
                        hit = lookup(tuple(chars[cut:]))
                        if hit is not None:
                            found_rows.append(row)
                            found_counts.append(hit[0].numel())
                            found_ids.append(hit[0])
                            found_nats.append(hit[1])
        if not found_rows:
            return
        # each row's hits in length order, as sparse gives them
        rows = torch.tensor(found_rows).repeat_interleave(torch.tensor(found_counts))
        hit_ids, nats = torch.cat(found_ids), torch.cat(found_nats)
        hit, k = (cand[rows] == hit_ids.unsqueeze(1)).nonzero(as_tuple=True)
        objective.index_put_((rows[hit], k), -nats[hit], accumulate=True)
