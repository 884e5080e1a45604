"""Per-slot constraints for acrostic decoding, shared by beam search and sampling.

Each hypothesis carries its own constraint state: character use counts, the set of 平水韵 groups
its rhyme can still take (so the search, not the caller, picks the rhyme), and flags recording
any constraint it had to relax. Constraints are boolean masks over the vocabulary; when a
hypothesis has no candidate left, the least important constraint is dropped for that step —
tones first, then rhyme, then the repeat limit — and the flag says so.

A planned keyword (engine.lexical) comes after all of those: it narrows what they allow, and a
hypothesis it empties drops out while another of the poem can still place the keyword; only
when none can is it relaxed for the line ("keyword"). No other rule is loosened to make room
for it: where they leave no place for it (a rhyme it cannot take), the keyword gives way first.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

import torch

from engine.lexical import DONE, keyword_mask, keyword_slots, progress_after
from engine.novelty import LineIndex
from engine.prosody import PING, VocabMasks
from engine.rules import PhrasePenalties, rhyme_bans, trigram_bans

RELAX_REPEAT, RELAX_RHYME, RELAX_TONES, RELAX_NOVELTY, RELAX_FORMULA = 1, 2, 4, 8, 16
RELAX_KEYWORD = 32
RELAX_NAMES = {
    RELAX_REPEAT: "max_repeat",
    RELAX_RHYME: "rhyme",
    RELAX_TONES: "tones",
    RELAX_NOVELTY: "novelty",
    RELAX_FORMULA: "formula",
    RELAX_KEYWORD: "keyword",
}
NEG_INF = float("-inf")
LOOSE_TONE_PENALTY = 1.0  # nats taken off a character in the wrong tone when tones="loose"


@dataclass(frozen=True)
class Rules:
    """What a poem must obey, slot by slot (slot = position in the token skeleton)."""

    max_repeat: int = 2
    rhyme_slots: frozenset[int] = frozenset()  # must be 平 and share one rhyme group
    # slot → the tone it needs under each start (平起/仄起 pattern); the search picks the start
    tone_slots: tuple[tuple[int, tuple[str, ...]], ...] = ()
    tones: str | None = None  # "strict" (mask), "loose" (penalty) or None
    line_starts: frozenset[int] = frozenset()  # first slot of every line
    line_ends: frozenset[int] = frozenset()  # last character slot of every line (novelty check)
    formula: bool = True  # no 3-gram twice, no rhyme character twice (engine.rules)
    repeat_nats: float = 0.0  # soft: nats off a character for each earlier use in the poem
    forced: tuple[tuple[int, int], ...] = ()  # (slot, id) fixed by the skeleton
    # the last slots of the first and the even lines: never the same character twice
    end_slots: frozenset[int] = frozenset()
    keywords: tuple[tuple[int, ...], ...] = ()  # per line, the ids of its planned keyword
    # slots a keyword does not cover where it has room elsewhere in its line: a sampled poem's
    # rhyme slots (its one path, made to place the keyword last, could not rhyme it)
    keyword_spared: frozenset[int] = frozenset()

    @property
    def starts(self) -> int:
        return len(self.tone_slots[0][1]) if self.tones and self.tone_slots else 1


@dataclass
class HypState:
    counts: torch.Tensor  # (B, V) int32 uses of each id, forced heads counted up front
    rhyme_set: torch.Tensor  # (B, G) bool rhyme groups still possible
    relaxed: torch.Tensor  # (B,) int relaxation flags
    start: torch.Tensor  # (B,) long index of the tone pattern this hypothesis follows
    line_hash: torch.Tensor  # (B,) int64 running hash of the current line
    hist: torch.Tensor  # (B, T) long ids of the slots so far
    kw: torch.Tensor | None = None  # (B,) long progress into the line's keyword (lexical)

    def select(self, rows: torch.Tensor) -> HypState:
        fields = (
            self.counts, self.rhyme_set, self.relaxed, self.start, self.line_hash, self.hist
        )  # fmt: skip
        kw = None if self.kw is None else self.kw.index_select(0, rows)
        return HypState(*(t.index_select(0, rows) for t in fields), kw)


class Constraints:
    def __init__(
        self,
        base: torch.Tensor,
        rules: Rules,
        masks: VocabMasks | None,
        lines: LineIndex | None = None,
        penalties: PhrasePenalties | None = None,
    ):
        """`base` (V,) bool: the ids that may ever be generated."""
        if masks is None and (rules.rhyme_slots or rules.tone_slots):
            raise ValueError("rhyme and tone rules need prosody masks")
        self.rules, self.masks, self.lines = rules, masks, lines
        self.penalties = penalties or None
        self.known_tone = masks.known_tone if masks else None  # (V,)
        self.base = base
        self.V = base.numel()
        self.forced = dict(rules.forced)
        self.starts = sorted(rules.line_starts) or [0]
        rhymes = sorted(rules.end_slots)
        self.earlier_rhymes = {s: [r for r in rhymes if r < s] for s in rhymes}
        self.later_forced_rhymes = {
            s: [self.forced[r] for r in rhymes if r > s and r in self.forced] for s in rhymes
        }
        self.member = masks.member_float if masks else None  # (G, V)
        ends, spared = sorted(rules.line_ends), rules.keyword_spared
        self.keyword_at = keyword_slots(rules.keywords, self.starts, ends, self.forced, spared)
        # slot → (starts,) bool: does this start need 平 here?
        self.tone_at = (
            {slot: torch.tensor([t == PING for t in tones]) for slot, tones in rules.tone_slots}
            if rules.tones
            else {}
        )

    def _pos(self, slot: int) -> int:
        """The slot's position within its line."""
        return slot - self.starts[max(bisect.bisect_right(self.starts, slot) - 1, 0)]

    def initial(self, forced_counts: torch.Tensor) -> HypState:
        """One row per tone-pattern start (one row when tones are off)."""
        n, G = self.rules.starts, self.masks.member.size(0) if self.masks else 0
        return HypState(
            forced_counts.expand(n, -1).clone(),
            torch.ones(n, G, dtype=torch.bool),
            torch.zeros(n, dtype=torch.long),
            torch.arange(n),
            torch.zeros(n, dtype=torch.int64),
            torch.zeros(n, 0, dtype=torch.long),
            torch.zeros(n, dtype=torch.long) if self.keyword_at else None,
        )

    def _tone_mask(self, state: HypState, slot: int) -> torch.Tensor:
        """(B, V) ids whose tone is the one each row's pattern needs at this slot."""
        needs_ping = self.tone_at[slot][state.start].unsqueeze(1)  # (B, 1)
        return torch.where(needs_ping, self.masks.ping.unsqueeze(0), self.masks.ze.unsqueeze(0))

    def _layers(self, state: HypState, slot: int) -> list[tuple[int, torch.Tensor]]:
        """Constraint masks for one slot, most important first."""
        layers = [(RELAX_REPEAT, state.counts < self.rules.max_repeat)]
        if slot in self.rules.rhyme_slots:
            layers.append((RELAX_RHYME, (state.rhyme_set.float() @ self.member) > 0))
        if slot in self.tone_at and self.rules.tones == "strict":
            layers.append((RELAX_TONES, self._tone_mask(state, slot)))
        elif slot in self.tone_at:  # loose: a penalty, but a character of unknown tone never
            layers.append((RELAX_TONES, self.known_tone.unsqueeze(0)))
        return layers

    def allowed(self, state: HypState, slot: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, V) choosable ids and the (B,) flags of constraints relaxed to keep a row non-empty."""
        layers = self._layers(state, slot)
        allowed = self.base.unsqueeze(0)
        for _, mask in layers:
            allowed = allowed & mask
        if bool(allowed.any(1).all()):  # the common case: every row has candidates
            return allowed, torch.zeros_like(state.relaxed)
        allowed = self.base.unsqueeze(0).expand(state.counts.size(0), -1)
        relaxed = torch.zeros_like(state.relaxed)
        for flag, mask in layers:  # most important first; drop what empties a row
            narrowed = allowed & mask
            ok = narrowed.any(1)
            allowed = torch.where(ok.unsqueeze(1), narrowed, allowed)
            relaxed |= torch.where(ok, 0, flag)
        return allowed, relaxed

    def objective(
        self, lp: torch.Tensor, state: HypState, slot: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (B, V) with disallowed ids at -inf and loose-tone penalties applied,
        and the (B,) relaxation flags."""
        allowed, relaxed = self.allowed(state, slot)
        objective = torch.where(allowed, lp, NEG_INF)
        if self.rules.formula:
            dead = self._ban_formulas(objective, state, slot)
            if dead is not None:  # the formula rules outrank rhyme and tones: drop those
                basic = self.base & (state.counts[dead] < self.rules.max_repeat)
                spent = ~basic.any(1)  # the repeat limit alone empties these rows: drop it too
                basic[spent] = self.base
                relaxed[dead[spent]] |= RELAX_REPEAT
                objective[dead] = torch.where(basic, lp[dead], NEG_INF)
                still = self._ban_formulas(objective, state, slot, dead)
                flags = self._prosody_flags(slot)
                relaxed[dead] |= flags
                if still is not None:
                    relaxed[still] |= RELAX_FORMULA
        if slot in self.tone_at and self.rules.tones == "loose":
            objective = objective - torch.where(
                self._tone_mask(state, slot), 0.0, LOOSE_TONE_PENALTY
            )
        if self.rules.repeat_nats:
            objective = objective - self.rules.repeat_nats * state.counts
        if self.penalties is not None:  # clichés and the chat's recent phrases
            found = self.penalties.sparse(state.hist, self._pos(slot))
            if found is not None:
                rows, ids, nats = found
                objective.index_put_((rows, ids), -nats, accumulate=True)
        return self._keyword(objective, state, slot, relaxed)

    def _keyword(self, objective, state: HypState, slot: int, relaxed):
        """The planned keyword's rule on top of the others (engine.lexical): hypotheses it
        empties drop out, unless it empties them all (then it is relaxed)."""
        ks = self.keyword_at.get(slot)
        mask = None if ks is None or state.kw is None else keyword_mask(state.kw, self.V, ks)
        if mask is None:
            return objective, relaxed
        narrowed = torch.where(mask, objective, NEG_INF)
        if bool(torch.isfinite(narrowed).any()):
            return narrowed, relaxed
        return objective, relaxed | RELAX_KEYWORD

    def keyword_progress(self, state: HypState, rows, tok, slot: int) -> torch.Tensor | None:
        """(N,) progress of hypotheses rows (N,) after tok (N,); None: no keyword here."""
        ks = self.keyword_at.get(slot)
        if ks is None or state.kw is None:
            return None
        return progress_after(state.kw[rows], tok, ks)

    def _ban_formulas(
        self, objective: torch.Tensor, state: HypState, slot: int, only: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """Set repeated 3-grams and repeated rhyme characters to -inf in place (in rows `only`,
        or all). Rows the bans would leave with no candidate keep them; their indices are
        returned (None when there are none)."""
        rows, ids = trigram_bans(state.hist, self._pos(slot), self.forced.get(slot + 1))
        if slot in self.rules.end_slots:
            more = rhyme_bans(
                state.hist, self.earlier_rhymes[slot], self.later_forced_rhymes[slot]
            )  # fmt: skip
            rows, ids = torch.cat([rows, more[0]]), torch.cat([ids, more[1]])
        if only is not None:
            keep = torch.isin(rows, only)
            rows, ids = rows[keep], ids[keep]
        if rows.numel() == 0:
            return None
        saved = objective[rows, ids]
        objective[rows, ids] = NEG_INF
        dead = ~torch.isfinite(objective).any(1)
        if not bool(dead.any()):
            return None
        back = dead[rows]
        objective[rows[back], ids[back]] = saved[back]
        return dead.nonzero().squeeze(1)

    def _prosody_flags(self, slot: int) -> int:
        """The flags of the rhyme and tone rules that apply at this slot."""
        flags = RELAX_RHYME if slot in self.rules.rhyme_slots else 0
        return flags | (RELAX_TONES if slot in self.tone_at else 0)

    def advance(
        self, state: HypState, slot: int, tok: torch.Tensor, relaxed: torch.Tensor, forced: bool
    ) -> HypState:
        """Record the chosen ids (B,) for this slot."""
        counts = state.counts
        if not forced:
            counts = counts.clone()
            counts[torch.arange(tok.size(0)), tok] += 1
        rhyme_set = state.rhyme_set
        flags = state.relaxed | relaxed
        if slot in self.rules.rhyme_slots:
            narrowed = rhyme_set & self.masks.member[:, tok].T.bool()  # (B, G)
            ok = narrowed.any(1)
            rhyme_set = torch.where(ok.unsqueeze(1), narrowed, rhyme_set)
            flags = flags | torch.where(ok, 0, RELAX_RHYME)
        line_hash = state.line_hash
        if self.lines is not None:
            prefix = torch.zeros_like(line_hash) if slot in self.rules.line_starts else line_hash
            line_hash = self.lines.advance(prefix, tok)
            if forced and slot in self.rules.line_ends:  # a forced last character cannot dodge
                flags = flags | torch.where(self.lines.contains(line_hash), RELAX_NOVELTY, 0)
        hist = torch.cat([state.hist, tok.view(-1, 1).expand(state.hist.size(0), 1)], 1)
        kw, ks = state.kw, self.keyword_at.get(slot)
        if ks is not None and kw is not None:
            kw = progress_after(kw, tok.expand(kw.size(0)), ks)
            if ks.line_end:  # the line is done: did it place its keyword?
                flags = flags | torch.where(kw != DONE, RELAX_KEYWORD, 0)
                kw = torch.zeros_like(kw)
        return replace(
            state,
            counts=counts,
            rhyme_set=rhyme_set,
            relaxed=flags,
            line_hash=line_hash,
            hist=hist,
            kw=kw,
        )

    def checks_novelty(self, slot: int) -> bool:
        return self.lines is not None and slot in self.rules.line_ends

    def copied(self, state: HypState, rows: torch.Tensor, tok: torch.Tensor) -> torch.Tensor:
        """(N,) bool: choosing tok (N,) after hypothesis rows (N,) completes a corpus line."""
        return self.lines.contains(self.lines.advance(state.line_hash[rows], tok))


def relaxed_names(flags: int) -> list[str]:
    return [name for flag, name in RELAX_NAMES.items() if flags & flag]
