"""Many beam searches advanced together: one model step and one vectorised search step for
every hypothesis of every request in flight.

engine.lockstep.scheduler shares only the model step and leaves each search its own Python loop; on a
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
whole vocabulary with engine.decode's own code (as is a step where one request is alone:
cheaper there). A poem is therefore the one engine.decode.beam_steps writes on the same
stepper, alone or beside any other requests. The rerank's passes step together after their
searches (engine.lockstep.finish).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from engine.lockstep.candidates import ANY, PING_ONLY, ZE_ONLY, Candidates
from engine.lockstep.finish import Finishing, Passes
from engine.lockstep.scheduler import Finished, StepScheduler, StepStats, run_all
from engine.lockstep.select import Selection
from engine.prosody import PING

CANDIDATES = 16  # characters a row scores before the exactness check


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
    state_rows: torch.Tensor = None  # (B,) each row's row in the last model step's state

    @property
    def rows(self) -> int:
        return self.ids.size(0)

    @property
    def slots(self) -> int:
        return self.forced.numel()


class Lockstep(Candidates, Selection, Finishing):
    """Beam and diverse-beam poems of one Poet, all in flight advanced together. Sampled
    poems, and poems with planned keywords (engine.lexical), go through engine.lockstep.scheduler's
    per-request search on the same stepper: their model steps are batched with the others',
    their search steps are engine.decode's own. Not thread-safe: one loop owns it."""

    def __init__(self, poet, candidates: int = CANDIDATES):
        self.poet = poet
        self.stepper = poet.batch_stepper
        self.vocab = poet.vocab
        self.V = len(poet.vocab)
        self.K = min(candidates, self.V)
        self.requests: dict[object, _Request] = {}
        self.samplers = StepScheduler(self.stepper)  # the sampled poems' path
        self.passes = Passes(poet, self.stepper)  # the rerank's passes (engine.lockstep.finish)
        self.stats = StepStats()
        self.state = None  # the last model step's (h, c) for all its rows
        self.rollbacks = 0  # steps that raised and were re-run request by request
        masks = poet.masks
        base = poet.generable
        self.tone_masks = torch.stack(
            [base, base & masks.ping, base & masks.ze, base & (masks.ping | masks.ze)]
        )  # (4, V)
        self.ping, self.ze = masks.ping, masks.ze
        self.member = masks.member  # (G, V) bool
        self.member_f = masks.member_float
        self.lines = poet.line_index

    def __len__(self) -> int:
        """Searches in flight; the poems in their rerank pass (cheap rows) are not counted."""
        return len(self.requests) + len(self.samplers)

    @property
    def active(self) -> bool:
        return bool(self.requests or self.samplers.active or self.passes)

    # joining ---------------------------------------------------------------------------

    @torch.inference_mode()
    def submit(self, key, spec) -> Finished | None:
        """Start a poem for a PoemSpec; it joins the next step. Finished when it failed at once."""
        if key in self.requests or key in self.samplers.active or key in self.passes.items:
            raise KeyError(f"{key!r} is already running")
        if spec.mode == "sample":
            return self.samplers.submit(key, self.poet.acrostic_steps(spec))
        try:
            plan = self.poet.plan(spec)
            if plan.outlined:  # keywords to place: engine.decode's own search, model steps shared
                return self.samplers.submit(key, self.poet.search_steps(plan))
            self.requests[key] = self._request(key, plan)
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
        """One model step for every row in flight, then one search step, then the rerank
        passes of the poems whose search has ended; the poems that ended."""
        finished = self.samplers.step() if self.samplers.active else []
        if self.requests:
            finished += self._step_searches()
        if self.passes:
            started = time.perf_counter()
            finished += self.passes.step()
            self.stats.pass_s += time.perf_counter() - started
        return finished

    def _step_searches(self) -> list[Finished]:
        requests = list(self.requests.values())
        saved = [dict(vars(r)) for r in requests]  # a step replaces fields, never edits them
        started = middle = time.perf_counter()
        try:
            lps = self._model_step(requests)
            middle = time.perf_counter()
            results = self._search_step(requests, lps)
        except Exception:  # find the request that breaks the step; the others go on
            self.rollbacks += 1
            results = []
            for request, fields in zip(requests, saved, strict=True):
                vars(request).update(fields)
                try:
                    results += self._search_step([request], self._model_step([request]))
                except Exception as error:
                    results.append(Finished(request.key, error=error))
        for done in results:
            self.requests.pop(done.key, None)
        self.stats.add(len(requests), sum(r.rows for r in requests), started, middle)
        return results

    def run(self, specs: dict) -> dict[object, Finished]:
        """Every poem of {key: spec} to its end, all in flight at once (tests, benches)."""
        return run_all(self, specs)

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
        self.state = hs, cs  # every row's new state (a request's are its state_rows)
        for i, r in enumerate(requests):
            r.h, r.c = hs[:, bounds[i] : bounds[i + 1]], cs[:, bounds[i] : bounds[i + 1]]
            r.state_rows = torch.arange(bounds[i], bounds[i + 1])
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
                lp = self.stepper.token_log_probs(top.index_select(0, rows), torch.cat(forced_ids))
            else:  # the search scores its candidates from the top layer's output
                lp = top.index_select(0, rows)
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
        done = [r for r, _ in forced + free if r.slot == r.slots - 1]
        return self._finish_all(done) if done else []

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
        request.state_rows = request.state_rows.index_select(0, zeros)  # copies of one row
        return lp.index_select(0, zeros)
