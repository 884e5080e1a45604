"""Many beam searches advanced together: one model step and one vectorised search step for
every hypothesis of every request in flight.

engine.batching shares only the model step and leaves each search its own Python loop; on a
CPU that loop costs more than the model (dozens of small tensor operations per request and
slot). Here the search's bookkeeping runs once per step over the rows of all requests: each
row carries its request's rules by slot (forced id, rhyme, tone, line position), so requests
at different slots, of different forms and beam shapes share every operation. A request joins
at the next step and leaves when its last slot is chosen.

Exact, not approximate. A row scores only its K best characters under the masks that do not
depend on its history (generable, tone, rhyme group); the rules that do (repeat limit, formula
bans, clichés, recent phrases, repeats, loose tones, diversity) only ever lower a score, so a
character outside those K can never beat the K-th. When a request's selection would still
need one, or its candidates were all banned, the step is redone for that request over the
whole vocabulary with engine.decode's own code. A poem is therefore the one
engine.decode.beam_steps writes on the same stepper, alone or beside any other requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.batching import Finished, StepStats, token_log_probs
from engine.constraints import LOOSE_TONE_PENALTY, RELAX_NOVELTY, RELAX_RHYME, HypState
from engine.decode import Decoded, _select
from engine.prosody import PING
from engine.stepper import _Int8Rows

NEG_INF = float("-inf")
CANDIDATES = 16  # characters a row scores before the exactness check
ANY, PING_ONLY, ZE_ONLY, KNOWN = 0, 1, 2, 3  # rows of the tone-mask table


@dataclass
class _Request:
    """One beam search in flight: its plan, its rules per slot and its hypotheses (rows)."""

    key: object
    plan: object  # engine.poet.Plan
    forced: torch.Tensor  # (S,) id per slot, -1 where the search chooses
    rhyme: torch.Tensor  # (S,) bool: must rhyme
    end: torch.Tensor  # (S,) bool: the end of the first or an even line (never repeated)
    line_start: torch.Tensor  # (S,) bool
    line_end: torch.Tensor  # (S,) bool: the last character of a line (novelty)
    pos: torch.Tensor  # (S,) position in the line
    need: torch.Tensor  # (S, starts) the tone each start needs: ANY, PING_ONLY or ZE_ONLY
    loose: bool  # tones are a penalty (and a known tone a must), not a mask
    fed: int = 0  # model steps fed so far (theme prefix, form token, slots)
    rules: dict = None  # the per-slot tensors above as Python lists (fast scalar lookups)
    # the hypotheses, B rows each
    ids: torch.Tensor = None  # (B, S) forced ids everywhere, chosen ids so far, -1 after
    rhyme_set: torch.Tensor = None  # (B, G) bool rhyme groups still possible
    relaxed: torch.Tensor = None  # (B,)
    start: torch.Tensor = None  # (B,) tone pattern
    line_hash: torch.Tensor = None  # (B,)
    scores: torch.Tensor = None  # (B,) search objective
    logp: torch.Tensor = None  # (B,) model log-probability
    group: torch.Tensor = None  # (B,) diverse beam group
    h: torch.Tensor = None  # (L, B, H)
    c: torch.Tensor = None
    tokens: torch.Tensor = None  # (B,) what the next model step feeds
    slot: int = -1  # the slot the last model step gave log-probabilities for (-1: none)

    @property
    def rows(self) -> int:
        return self.ids.size(0)

    @property
    def slots(self) -> int:
        return self.forced.numel()


class Lockstep:
    """Beam and diverse-beam poems of one Poet, all in flight advanced together. Sampled
    poems go through engine.batching's per-request search on the same stepper. Not
    thread-safe: one loop owns it."""

    def __init__(self, poet, candidates: int = CANDIDATES):
        from engine.batching import StepScheduler  # the sampled poems' path

        self.poet = poet
        self.stepper = poet.batch_stepper
        self.vocab = poet.vocab
        self.V = len(poet.vocab)
        self.K = min(candidates, self.V)
        self.requests: dict[object, _Request] = {}
        self.samplers = StepScheduler(self.stepper)
        self.stats = StepStats()
        masks = poet.masks
        base = poet.generable
        self.tone_masks = torch.stack(
            [base, base & masks.ping, base & masks.ze, base & (masks.ping | masks.ze)]
        )  # (4, V)
        self.ping, self.ze = masks.ping, masks.ze
        self.member = masks.member  # (G, V) bool
        self.member_f = masks.member.float()
        self.lines = poet.line_index

    def __len__(self) -> int:
        return len(self.requests) + len(self.samplers)

    @property
    def active(self) -> bool:
        return bool(self.requests or self.samplers.active)

    # joining ---------------------------------------------------------------------------

    @torch.inference_mode()
    def submit(self, key, spec) -> Finished | None:
        """Start a poem for a PoemSpec; it joins the next step. Finished when it failed at once."""
        if key in self.requests or key in self.samplers.active:
            raise KeyError(f"{key!r} is already running")
        if spec.mode == "sample":
            return self.samplers.submit(key, self.poet.acrostic_steps(spec))
        try:
            self.requests[key] = self._request(key, self.poet.plan(spec))
        except Exception as error:  # a bad spec or head: this poem alone fails
            return Finished(key, error=error)
        return None

    def _request(self, key, plan) -> _Request:
        constraints, skeleton = plan.constraints, plan.skeleton
        rules = constraints.rules
        S = len(skeleton.slots)
        forced = torch.tensor([-1 if t is None else t for t in skeleton.slots])
        flags = [
            torch.tensor([s in which for s in range(S)])
            for which in (rules.rhyme_slots, rules.end_slots, rules.line_starts, rules.line_ends)
        ]
        pos = torch.tensor([constraints._pos(s) for s in range(S)])
        need = torch.full((S, rules.starts), ANY)
        for slot, needs in rules.tone_slots if rules.tones else ():
            need[slot] = torch.tensor([PING_ONLY if t == PING else ZE_ONLY for t in needs])
        request = _Request(key, plan, forced, *flags, pos, need, rules.tones == "loose")
        request.rules = {
            name: getattr(request, name).tolist()
            for name in ("forced", "rhyme", "end", "line_start", "line_end", "pos")
        }
        G = self.member.size(0)
        L, H = self.stepper.L, self.stepper.H
        request.ids = forced.unsqueeze(0).clone()
        request.rhyme_set = torch.ones(1, G, dtype=torch.bool)
        zeros = torch.zeros(1, dtype=torch.long)
        request.relaxed, request.start, request.group = zeros, zeros.clone(), zeros.clone()
        request.line_hash = torch.zeros(1, dtype=torch.int64)
        request.scores, request.logp = torch.zeros(1), torch.zeros(1)
        request.h, request.c = torch.zeros(L, 1, H), torch.zeros(L, 1, H)
        request.tokens = torch.tensor([self._input(request)])
        return request

    def _input(self, request: _Request) -> int:
        """The token the request feeds next while it is still in its prefix and form token."""
        prefix = request.plan.prefix
        if request.fed < len(prefix):
            return prefix[request.fed]
        return self.vocab.form_id(request.plan.skeleton.chars_per_line)

    # one step ------------------------------------------------------------------------------

    @torch.inference_mode()
    def step(self) -> list[Finished]:
        """One model step for every row in flight, then one search step; the poems that ended."""
        finished = self.samplers.step() if self.samplers.active else []
        if not self.requests:
            return finished
        requests = list(self.requests.values())
        started = time.perf_counter()
        lps = self._model_step(requests)
        middle = time.perf_counter()
        saved = [dict(vars(r)) for r in requests]  # a step replaces fields, never edits them
        try:
            results = self._search_step(requests, lps)
        except Exception:  # find the request that breaks the step; the others go on
            results = []
            for request, lp, fields in zip(requests, lps, saved, strict=True):
                vars(request).update(fields)
                try:
                    results += self._search_step([request], [lp])
                except Exception as error:
                    results.append(Finished(request.key, error=error))
        for done in results:
            self.requests.pop(done.key, None)
            finished.append(done)
        stats = self.stats
        stats.steps += 1
        stats.searches += len(requests)
        stats.rows += sum(r.rows for r in requests)
        stats.step_s += middle - started
        stats.search_s += time.perf_counter() - middle
        return finished

    def run(self, specs: dict) -> dict[object, Finished]:
        """Every poem of {key: spec} to its end, all in flight at once (tests, benches)."""
        results = {}
        for key, spec in specs.items():
            done = self.submit(key, spec)
            if done is not None:
                results[key] = done
        while self.active:
            for done in self.step():
                results[done.key] = done
        return results

    def _model_step(self, requests: list[_Request]) -> list:
        """Feed every row its token; per request what the slot it reached needs: (B,)
        log-probabilities of the forced id, the top layer's output (B, H) where the search
        chooses, None in the theme prefix."""
        sizes = [r.rows for r in requests]
        tokens = torch.cat([r.tokens for r in requests])
        h0 = torch.cat([r.h for r in requests], 1)
        c0 = torch.cat([r.c for r in requests], 1)
        top, (hs, cs) = self.stepper.advance(tokens, (h0, c0))
        bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()
        forced_at, forced_ids, full_at = [], [], []
        for i, r in enumerate(requests):
            r.h, r.c = hs[:, bounds[i] : bounds[i + 1]], cs[:, bounds[i] : bounds[i + 1]]
            r.slot = r.fed - len(r.plan.prefix)  # the form token scores slot 0
            r.fed += 1
            if r.slot >= 0 and r.rules["forced"][r.slot] >= 0:
                forced_at.append(i)
                forced_ids.append(torch.full((sizes[i],), r.rules["forced"][r.slot]))
            elif r.slot >= 0:
                full_at.append(i)
        out: list = [None] * len(requests)
        for which, score in ((forced_at, "forced"), (full_at, "full")):
            if not which:
                continue
            rows = torch.cat([torch.arange(bounds[i], bounds[i + 1]) for i in which])
            if score == "forced":
                lp = token_log_probs(self.stepper, top[rows], torch.cat(forced_ids))
            else:  # the search scores its candidates from the top layer's output
                lp = top[rows]
            for i, part in zip(which, lp.split([sizes[i] for i in which]), strict=True):
                out[i] = part
        return out

    def _search_step(self, requests: list[_Request], lps: list) -> list[Finished]:
        """Choose the slot every scored request reached; the requests that finished."""
        forced, free = [], []
        for request, lp in zip(requests, lps, strict=True):
            if request.slot < 0:  # still in the theme prefix
                request.tokens = torch.tensor([self._input(request)])
                continue
            if request.slot == 0:  # the form token was fed: one row per start (and group)
                lp = self._fan_out(request, lp)
            (forced if request.rules["forced"][request.slot] >= 0 else free).append((request, lp))
        for request, lp in forced:
            request.scores, request.logp = request.scores + lp, request.logp + lp
            tok = torch.full((request.rows,), request.rules["forced"][request.slot])
            self._advance(request, tok, torch.zeros_like(request.relaxed), forced=True)
        if len(free) == 1:  # alone the whole-vocabulary step is cheaper, and the same
            request, h = free[0]
            self._redo(request, self.stepper.log_probs(h), request.ids)
        elif free:
            self._choose(free)
        return [
            self._finish(request)
            for request, _ in forced + free
            if request.slot == request.slots - 1
        ]

    def _fan_out(self, request: _Request, lp: torch.Tensor) -> torch.Tensor:
        """After the form token: one row per tone-pattern start, times the beam groups."""
        plan = request.plan
        starts, copies = plan.constraints.rules.starts, plan.groups
        request.start = torch.arange(starts).repeat(copies)
        request.group = torch.arange(copies).repeat_interleave(starts)
        zeros = torch.zeros(request.start.numel(), dtype=torch.long)
        for name in ("ids", "rhyme_set", "relaxed", "line_hash", "scores", "logp"):
            setattr(request, name, getattr(request, name).index_select(0, zeros))
        request.h, request.c = request.h.index_select(1, zeros), request.c.index_select(1, zeros)
        return lp.index_select(0, zeros)

    def _choose(self, free: list[tuple[_Request, torch.Tensor]]) -> None:
        """Every free slot of every request in one pass: candidates, rules, beam selection."""
        requests = [r for r, _ in free]
        sizes = torch.tensor([r.rows for r in requests])
        h = torch.cat([h for _, h in free])  # (N, H) the top layer's output
        owner = torch.arange(len(requests)).repeat_interleave(sizes)  # (N,)
        width = max(r.slots for r in requests)
        ids = torch.cat([F.pad(r.ids, (0, width - r.slots), value=-1) for r in requests])
        scores = torch.cat([r.scores for r in requests])
        rules = [r.plan.constraints.rules for r in requests]
        at = lambda values: torch.tensor(values)[owner]  # noqa: E731 (per request → per row)
        slot = at([r.slot for r in requests])

        # the K best characters of each row under the masks its history does not change
        need = torch.cat([r.need[r.slot][r.start] for r in requests])  # (N,)
        loose = at([r.loose for r in requests])
        mask = self.tone_masks[torch.where(loose & (need != ANY), KNOWN, need)]
        rhymes = at([r.rules["rhyme"][r.slot] for r in requests]).nonzero().squeeze(1)
        if rhymes.numel():
            rhyme_set = torch.cat([r.rhyme_set for r in requests])[rhymes]
            mask[rhymes] &= (rhyme_set.float() @ self.member_f) > 0
        values, cand, kth = self._candidates(h, mask)

        counts = (ids.unsqueeze(1) == cand.unsqueeze(2)).sum(2)  # (N, K) uses in the poem
        objective = torch.where(counts < at([x.max_repeat for x in rules]).unsqueeze(1),
                                values, NEG_INF)  # fmt: skip
        banned = cand.unsqueeze(2) == self._bans(requests, ids, owner, slot).unsqueeze(1)
        objective = objective.masked_fill(banned.any(2), NEG_INF)
        right = torch.where((need == PING_ONLY).unsqueeze(1), self.ping[cand], self.ze[cand])
        wrong = (loose & (need != ANY)).unsqueeze(1) & ~right
        objective = objective - torch.where(wrong, LOOSE_TONE_PENALTY, 0.0)
        objective = objective - at([x.repeat_nats for x in rules]).float().unsqueeze(1) * counts
        self._phrase_penalties(requests, ids, cand, objective)
        total = scores.unsqueeze(1) + objective

        flagged = set(owner[~torch.isfinite(objective).any(1)].tolist())
        chosen = self._select(requests, owner, total, cand, kth, scores, flagged)
        starts = torch.cat([torch.tensor([0]), sizes.cumsum(0)]).tolist()
        for i, request in enumerate(requests):
            if i in flagged:
                lp = self.stepper.log_probs(h[starts[i] : starts[i + 1]])
                self._redo(request, lp, ids[starts[i] : starts[i + 1], : request.slots])
                continue
            rows, k, relaxed, group = chosen[i]
            local = rows - starts[i]
            self._keep(
                request, local, group, total[rows, k], request.logp[local] + values[rows, k]
            )
            self._advance(request, cand[rows, k], relaxed, forced=False)

    def _candidates(self, h: torch.Tensor, mask: torch.Tensor) -> tuple:
        """Each row's K most likely characters among `mask` (N, V): (log-probabilities (N, K)
        best first, ids (N, K), and a bound (N,) no other allowed character exceeds).

        The numbers are Stepper.log_probs' own, but a softmax tail cluster is computed only
        for the rows where it could matter: every character of a cluster is less likely than
        the cluster itself (the head's entry), so a row whose K-th shortlist candidate already
        beats that entry skips the cluster."""
        stepper, K = self.stepper, self.K
        if not stepper.tails:
            lp = stepper.log_probs(h).masked_fill(~mask, NEG_INF)
            values, cand = lp.topk(K, 1)
            return values, cand, self._bound(values)
        x = _Int8Rows.quantize(h) if stepper.precision == "int8-rows" else h
        head = F.log_softmax(stepper.head(x), dim=-1)  # (N, shortlist + clusters)
        short = stepper.shortlist
        shortlist = head[:, :short].masked_fill(~mask[:, :short], NEG_INF)
        values, cand = shortlist.topk(min(K, short), 1)
        kth = values[:, -1] if short >= K else torch.full((h.size(0),), NEG_INF)
        parts_v, parts_i = [values], [cand]
        lo = short
        for i, (proj, out) in enumerate(stepper.tails):
            hi = stepper.cutoffs[i + 1]
            cluster = head[:, short + i]
            rows = (cluster >= kth).nonzero().squeeze(1)  # the cluster could place a character
            v = torch.full((h.size(0), K), NEG_INF)
            c = torch.zeros(h.size(0), K, dtype=torch.long)
            if rows.numel():
                xr = x[rows] if isinstance(x, torch.Tensor) else (x[0][rows], x[1][rows])
                tail = F.log_softmax(out(proj(xr)), dim=-1).masked_fill(
                    ~mask[rows, lo:hi], NEG_INF
                )
                tv, tc = tail.topk(min(K, hi - lo), 1)
                v[rows, : tv.size(1)] = tv + cluster[rows].unsqueeze(1)  # as log_probs adds it
                c[rows, : tc.size(1)] = tc + lo
            parts_v.append(v)
            parts_i.append(c)
            lo = hi
        values, at = torch.cat(parts_v, 1).topk(K, 1)
        return values, torch.cat(parts_i, 1).gather(1, at), self._bound(values)

    def _bound(self, values: torch.Tensor) -> torch.Tensor:
        """What no character outside a row's K candidates can exceed: the K-th candidate's
        log-probability (-inf when the K are the whole vocabulary)."""
        if self.K >= self.V:
            return torch.full((values.size(0),), NEG_INF)
        return values[:, -1]

    def _bans(self, requests, ids, owner, slot) -> torch.Tensor:
        """(N, J) ids the formula rules ban for each row's next character (-1: no ban):
        3-grams already in the poem and characters that ended an earlier rhyming line (or
        are forced to end a later one); engine.rules.trigram_bans and rhyme_bans."""
        N, S = ids.shape
        at = lambda values: torch.tensor(values)[owner]  # noqa: E731
        pos = at([r.rules["pos"][r.slot] for r in requests])
        nxt = at([(r.rules["forced"] + [-1])[r.slot + 1] for r in requests])
        j = torch.arange(max(S - 2, 0))
        inside = j.unsqueeze(0) <= (slot - 3).unsqueeze(1)  # (a, b, c) all before the slot
        last1 = ids.gather(1, (slot - 1).clamp(min=0).unsqueeze(1))
        last2 = ids.gather(1, (slot - 2).clamp(min=0).unsqueeze(1))
        a, b, c = ids[:, : S - 2], ids[:, 1 : S - 1], ids[:, 2:]
        repeat = inside & (a == last2) & (b == last1) & (pos >= 2).unsqueeze(1)
        around = inside & (a == last1) & (c == nxt.unsqueeze(1))
        around &= ((pos >= 1) & (nxt >= 0)).unsqueeze(1)
        ends = torch.zeros(N, S, dtype=torch.bool)
        first = 0
        for r in requests:
            if r.rules["end"][r.slot]:
                k = torch.arange(r.slots)
                other = r.end & ((k < r.slot) | ((k > r.slot) & (r.forced >= 0)))
                ends[first : first + r.rows, : r.slots] = other
            first += r.rows
        return torch.cat(
            [c.masked_fill(~repeat, -1), b.masked_fill(~around, -1), ids.masked_fill(~ends, -1)],
            1,
        )

    def _phrase_penalties(self, requests, ids, cand, objective) -> None:
        """Take each request's cliché and recent-phrase penalties off its rows' candidates, in
        the order engine.constraints adds them (so the sums are the same, bit for bit)."""
        first = 0
        for r in requests:
            table = r.plan.constraints.penalties
            found = None
            if table is not None:
                found = table.sparse(ids[first : first + r.rows, : r.slot], r.rules["pos"][r.slot])
            if found is not None:
                rows, hit_ids, nats = found
                rows = rows + first
                hit, k = (cand[rows] == hit_ids.unsqueeze(1)).nonzero(as_tuple=True)
                objective.index_put_((rows[hit], k), -nats[hit], accumulate=True)
            first += r.rows

    def _select(self, requests, owner, total, cand, kth, scores, flagged: set) -> list:
        """Each (request, group) unit's best continuations, group by group (a later group
        pays `diversity` for characters earlier groups of its request chose). Adds to
        `flagged` the requests whose choice a character outside the candidates could beat.
        Returns per request (rows, candidate index, relaxed flags, group) in beam order."""
        K = total.size(1)
        R = len(requests)
        group = torch.cat([r.group for r in requests])
        groups = max(r.plan.groups for r in requests)
        used = torch.zeros(R, self.V)
        width = torch.tensor([r.plan.width for r in requests])
        novel = torch.tensor(
            [r.plan.constraints.checks_novelty(r.slot) for r in requests], dtype=torch.bool
        )
        wanted = width * torch.where(novel, 3, 1)  # the search looks further at a line's end
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

    def _redo(self, request: _Request, lp: torch.Tensor, ids: torch.Tensor) -> None:
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

    @staticmethod
    def _keep(request: _Request, rows, group, scores, logp) -> None:
        """The request's new beam: the rows it continues (and their state), in order."""
        for name in ("ids", "rhyme_set", "relaxed", "start", "line_hash"):
            setattr(request, name, getattr(request, name).index_select(0, rows))
        request.h, request.c = request.h.index_select(1, rows), request.c.index_select(1, rows)
        request.group, request.scores, request.logp = group, scores, logp

    def _advance(
        self, request: _Request, tok: torch.Tensor, relaxed: torch.Tensor, forced: bool
    ) -> None:
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

    def _finish(self, request: _Request) -> Finished:
        """The request's poem from its final rows, best first (engine.decode.beam_steps)."""
        n = request.slots
        order = request.scores.argsort(descending=True).tolist()
        finals = [
            Decoded(
                request.ids[i].tolist(),
                float(request.logp[i]) / n,
                int(request.relaxed[i]),
                int(request.start[i]),
                float(request.scores[i] - request.logp[i]),
            )
            for i in order
        ]
        try:
            return Finished(request.key, self.poet.finish(request.plan, finals))
        except Exception as error:
            return Finished(request.key, error=error)
