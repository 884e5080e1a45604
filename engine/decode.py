"""Acrostic decoding: beam search and sampling over a fixed poem skeleton, state carried per step."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import torch

from engine.constraints import RELAX_NOVELTY, Constraints, HypState
from engine.selection import select
from engine.stepper import Hidden, Stepper
from engine.vocab import Vocab

NEG_INF = float("-inf")
MAX_REDRAWS = 20
ROW0 = torch.zeros(1, dtype=torch.long)


@dataclass(frozen=True)
class Skeleton:
    """The token plan of a poem: a forced id per slot, or None where the model chooses."""

    slots: tuple[int | None, ...]
    chars_per_line: int
    # per line, the ids fed right before it (its planned keyword and <kw>, for a model trained
    # with plans): context between slots, never a slot itself
    feeds: tuple[tuple[int, ...], ...] = ()

    @classmethod
    def acrostic(
        cls,
        vocab: Vocab,
        head_ids: list[int],
        chars_per_line: int,
        at: int = 0,
        feeds: tuple[tuple[int, ...], ...] = (),
    ) -> Skeleton:
        """Line i = head i at position `at` among free characters, then '，' or '。' (the last
        line always ends '。'); `feeds[i]` fed right before line i."""
        slots: list[int | None] = []
        for i, hid in enumerate(head_ids):
            line: list[int | None] = [None] * chars_per_line
            line[at] = hid
            last = i == len(head_ids) - 1
            slots += [*line, vocab.period if last or i % 2 == 1 else vocab.comma]
        return cls(tuple(slots), chars_per_line, tuple(feeds))

    def line_start(self, line: int) -> int:
        """The first slot of a line: line i at i·(chars_per_line + 1), the one place that says
        so for a search (the feeds sit between slots)."""
        return line * (self.chars_per_line + 1)

    def feed_before(self, slot: int) -> tuple[int, ...]:
        """What is fed after slot − 1's token and before slot is predicted."""
        width = self.chars_per_line + 1
        if not self.feeds or slot % width:
            return ()
        line = slot // width
        return self.feeds[line] if line < len(self.feeds) else ()

    def forced_counts(self, V: int) -> torch.Tensor:
        """(1, V) uses of each id by forced slots: the heads count against the repeat limit
        from the start, so a free choice can never push a later head over it."""
        counts = torch.zeros(1, V, dtype=torch.int32)
        for tok in self.slots:
            if tok is not None:
                counts[0, tok] += 1
        return counts


@dataclass(frozen=True)
class Predict:
    """One model step a search asks its driver for: feed `tokens` (B,) from `state` and send
    back (log-probabilities, new state). The log-probabilities are (B, V) when `forced` is
    None, the forced token's (B,) otherwise (one id for all rows, or a (B,) tensor of ids),
    and None when `scores` is False (theme prefix). Searches are generators yielding these,
    so one search runs alone (`drive`) or in a batched step with others (engine.lockstep.scheduler)."""

    tokens: torch.Tensor
    state: Hidden
    forced: int | torch.Tensor | None = None
    scores: bool = True


Search = Generator[Predict, tuple, object]


def feed_then(
    tok: torch.Tensor, state: Hidden, feed: tuple[int, ...], forced
) -> Generator[Predict, tuple, tuple]:
    """Predict(tok, state, forced), with `feed` (a line's keyword and <kw>) fed first after
    tok: one model step per fed token, no scores until the last."""
    if not feed:
        return (yield Predict(tok, state, forced))
    _, state = yield Predict(tok, state, scores=False)
    for fed in feed[:-1]:
        _, state = yield Predict(torch.full_like(tok, fed), state, scores=False)
    return (yield Predict(torch.full_like(tok, feed[-1]), state, forced))


def answer(stepper: Stepper, request: Predict) -> tuple[torch.Tensor | None, Hidden]:
    """Run one Predict on a stepper, on its own."""
    h, state = stepper.advance(request.tokens, request.state)
    if not request.scores:
        return None, state
    forced = request.forced
    if isinstance(forced, torch.Tensor):
        return stepper.token_log_probs(h, forced), state
    return (stepper.log_probs(h) if forced is None else stepper.token_log_prob(h, forced)), state


@torch.inference_mode()
def drive(stepper: Stepper, search: Search):
    """Run a search alone: answer each of its steps with `stepper`; return its result."""
    try:
        request = next(search)
        while True:
            request = search.send(answer(stepper, request))
    except StopIteration as done:
        return done.value


@dataclass(frozen=True)
class Decoded:
    ids: list[int]
    score: float  # mean model log-probability per token, forced tokens included
    relaxed: int  # constraint flags that had to be dropped (engine.constraints.RELAX_*)
    start: int  # index of the tone pattern followed (0 when tones are off)
    penalty: float = 0.0  # summed soft penalties (≤ 0) the search applied to this poem


def _begin(
    stepper: Stepper,
    vocab: Vocab,
    skeleton: Skeleton,
    constraints: Constraints,
    prefix: list[int],
    copies: int = 1,
) -> Generator[Predict, tuple, tuple[torch.Tensor, Hidden, HypState]]:
    """Feed the theme prefix and the form token once, then fan out to one row per constraint
    start (times `copies`, for beam groups)."""
    cstate = constraints.initial(skeleton.forced_counts(len(vocab)))
    state = stepper.initial(1)
    for tok in prefix:
        _, state = yield Predict(torch.tensor([tok]), state, scores=False)
    form = torch.tensor([vocab.form_id(skeleton.chars_per_line)])
    lp, state = yield from feed_then(form, state, skeleton.feed_before(0), skeleton.slots[0])
    rows = torch.arange(cstate.counts.size(0)).repeat(copies)
    cstate = cstate.select(rows)
    rows = torch.zeros_like(rows)
    return lp.index_select(0, rows), stepper.reorder(state, rows), cstate


def beam_search(stepper: Stepper, *args, **kwargs) -> list[Decoded]:
    """`beam_steps` run alone on `stepper`."""
    return drive(stepper, beam_steps(stepper, *args, **kwargs))


def sample(stepper: Stepper, *args, **kwargs) -> Decoded:
    """`sample_steps` run alone on `stepper`."""
    return drive(stepper, sample_steps(stepper, *args, **kwargs))


def beam_steps(
    stepper: Stepper,
    vocab: Vocab,
    skeleton: Skeleton,
    constraints: Constraints,
    beam_size: int,
    prefix: list[int] = (),
    groups: int = 1,
    diversity: float = 0.0,
) -> Generator[Predict, tuple, list[Decoded]]:
    """Deterministic (diverse) beam search over the whole poem; every final hypothesis, best
    first. Hypotheses share one length, so the length-normalised score is the mean per-token
    log-probability. With `groups` > 1 the beam is split into groups of `beam_size` each; a
    group pays `diversity` nats for each earlier group that picked the same character at
    this step (Vijayakumar et al.'s diverse beam search with a Hamming penalty)."""
    lp, state, cstate = yield from _begin(
        stepper, vocab, skeleton, constraints, list(prefix), groups
    )  # fmt: skip
    B = lp.size(0)
    group = torch.arange(groups).repeat_interleave(B // groups)  # (B,) group of each row
    scores, logp = torch.zeros(B), torch.zeros(B)  # search objective, pure model log-prob
    for slot, forced in enumerate(skeleton.slots):
        if forced is not None:
            tok = torch.full((scores.size(0),), forced, dtype=torch.long)
            scores, logp = scores + lp, logp + lp  # lp is the forced token's (B,)
            relaxed = torch.zeros_like(cstate.relaxed)
        else:
            objective, relaxed = constraints.objective(lp, cstate, slot)
            total = scores.unsqueeze(1) + objective  # (B, V)
            rows, tok, relaxed, group = select(
                total, group, groups, beam_size, diversity, constraints, cstate, slot, relaxed
            )
            scores, logp = total[rows, tok], logp[rows] + lp[rows, tok]
            cstate = cstate.select(rows)
            state = stepper.reorder(state, rows)
        cstate = constraints.advance(cstate, slot, tok, relaxed, forced is not None)
        if slot + 1 < len(skeleton.slots):
            after = skeleton.feed_before(slot + 1)
            lp, state = yield from feed_then(tok, state, after, skeleton.slots[slot + 1])
    n = len(skeleton.slots)
    order = scores.argsort(descending=True).tolist()
    return [
        Decoded(
            cstate.hist[i].tolist(),
            float(logp[i]) / n,
            int(cstate.relaxed[i]),
            int(cstate.start[i]),
            float(scores[i] - logp[i]),
        )
        for i in order
    ]


def sample_steps(
    stepper: Stepper,
    vocab: Vocab,
    skeleton: Skeleton,
    constraints: Constraints,
    generator: torch.Generator,
    temperature: float,
    top_k: int,
    top_p: float,
    prefix: list[int] = (),
) -> Generator[Predict, tuple, Decoded]:
    """Ancestral sampling with temperature, top-k and nucleus (top-p) filtering."""
    lp, state, cstate = yield from _begin(stepper, vocab, skeleton, constraints, list(prefix))
    if lp.size(0) > 1:  # several tone-pattern starts: draw one
        row = torch.randint(lp.size(0), (1,), generator=generator)
        lp, state, cstate = lp[row], stepper.reorder(state, row), cstate.select(row)
    ids: list[int] = []
    total = penalty = 0.0
    for slot, forced in enumerate(skeleton.slots):
        relaxed = torch.zeros(1, dtype=torch.long)
        if forced is not None:
            choice = forced
        else:
            logits, relaxed = constraints.objective(lp, cstate, slot)
            choice, fresh = _draw_novel(
                logits[0] / temperature, generator, top_k, top_p, constraints, cstate, slot
            )
            if not fresh:
                relaxed = relaxed | RELAX_NOVELTY
            penalty += float(logits[0, choice] - lp[0, choice])
        total += float(lp[0] if forced is not None else lp[0, choice])
        ids.append(choice)
        tok = torch.tensor([choice])
        cstate = constraints.advance(cstate, slot, tok, relaxed, forced is not None)
        if slot + 1 < len(skeleton.slots):
            after = skeleton.feed_before(slot + 1)
            lp, state = yield from feed_then(tok, state, after, skeleton.slots[slot + 1])
    n = len(skeleton.slots)
    return Decoded(ids, total / n, int(cstate.relaxed[0]), int(cstate.start[0]), penalty)


def _draw_novel(logits, generator, top_k, top_p, constraints, cstate, slot) -> tuple[int, bool]:
    """Draw; at a line's end, redraw while the character would complete a corpus line.
    Returns (id, whether the line is novel)."""
    choice = _draw(logits, generator, top_k, top_p)
    if not constraints.checks_novelty(slot):
        return choice, True
    for _ in range(MAX_REDRAWS):
        if not bool(constraints.copied(cstate, ROW0, torch.tensor([choice]))):
            return choice, True
        logits = logits.clone()
        logits[choice] = NEG_INF
        if not torch.isfinite(logits).any():
            return choice, False
        choice = _draw(logits, generator, top_k, top_p)
    return choice, not bool(constraints.copied(cstate, ROW0, torch.tensor([choice])))


def _draw(logits: torch.Tensor, generator: torch.Generator, top_k: int, top_p: float) -> int:
    """One id from filtered logits (V,); at least the most likely id always survives."""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, NEG_INF)
    probs = torch.softmax(logits, -1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        cut = sorted_p.cumsum(0) - sorted_p >= top_p  # drop ids once the mass before them ≥ p
        sorted_p = sorted_p.masked_fill(cut, 0.0)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
    return int(torch.multinomial(probs, 1, generator=generator))
