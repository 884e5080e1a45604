"""Acrostic decoding: beam search and sampling over a fixed poem skeleton, state carried per step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.stepper import Stepper
from engine.vocab import Vocab

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Skeleton:
    """The token plan of a poem: a forced id per slot, or None where the model chooses."""

    slots: tuple[int | None, ...]
    chars_per_line: int

    @classmethod
    def acrostic(cls, vocab: Vocab, head_ids: list[int], chars_per_line: int) -> Skeleton:
        """Line i = head i + free characters + '，' or '。' (the last line always ends '。')."""
        slots: list[int | None] = []
        for i, hid in enumerate(head_ids):
            slots += [hid, *([None] * (chars_per_line - 1))]
            last = i == len(head_ids) - 1
            slots.append(vocab.period if last or i % 2 == 1 else vocab.comma)
        return cls(tuple(slots), chars_per_line)

    def forced_counts(self, V: int) -> torch.Tensor:
        """(1, V) uses of each id by forced slots: the heads count against the repeat limit
        from the start, so a free choice can never push a later head over it."""
        counts = torch.zeros(1, V, dtype=torch.int32)
        for tok in self.slots:
            if tok is not None:
                counts[0, tok] += 1
        return counts


@dataclass(frozen=True)
class Decoded:
    ids: list[int]
    score: float  # mean log-probability per token, forced tokens included


def _allowed(base: torch.Tensor, counts: torch.Tensor, max_repeat: int) -> torch.Tensor:
    """(B, V) mask of choosable ids; a row with nothing left falls back to the base mask."""
    allowed = base & (counts < max_repeat)
    empty = ~allowed.any(1, keepdim=True)
    return torch.where(empty, base, allowed)


def beam_search(
    stepper: Stepper, vocab: Vocab, skeleton: Skeleton, beam_size: int, max_repeat: int
) -> Decoded:
    """Deterministic beam search over the whole poem; hypotheses share length, so the
    length-normalised score is the mean per-token log-probability."""
    V = len(vocab)
    base = torch.zeros(V, dtype=torch.bool)
    base[vocab.first_char_id :] = True
    lp, state = stepper.step(
        torch.tensor([vocab.form_id(skeleton.chars_per_line)]), stepper.initial(1)
    )
    scores = torch.zeros(1)
    counts = skeleton.forced_counts(V)
    seqs = torch.zeros(1, 0, dtype=torch.long)
    for pos, forced in enumerate(skeleton.slots):
        if forced is not None:
            tok = torch.full((scores.size(0),), forced, dtype=torch.long)
            scores = scores + lp[:, forced]
        else:
            masked = lp.masked_fill(~_allowed(base, counts, max_repeat), NEG_INF)
            flat = (scores.unsqueeze(1) + masked).view(-1)  # (B*V,)
            top = flat.topk(min(beam_size, flat.numel()))
            keep = torch.isfinite(top.values)
            values, index = top.values[keep], top.indices[keep]
            rows, tok = index // V, index % V
            scores, counts, seqs = values, counts.index_select(0, rows), seqs.index_select(0, rows)
            state = stepper.reorder(state, rows)
            counts[torch.arange(tok.size(0)), tok] += 1
        seqs = torch.cat([seqs, tok.unsqueeze(1)], 1)
        if pos + 1 < len(skeleton.slots):
            lp, state = stepper.step(tok, state)
    best = int(scores.argmax())
    return Decoded(seqs[best].tolist(), float(scores[best]) / len(skeleton.slots))


def sample(
    stepper: Stepper,
    vocab: Vocab,
    skeleton: Skeleton,
    generator: torch.Generator,
    temperature: float,
    top_k: int,
    top_p: float,
    max_repeat: int,
) -> Decoded:
    """Ancestral sampling with temperature, top-k and nucleus (top-p) filtering."""
    V = len(vocab)
    base = torch.zeros(V, dtype=torch.bool)
    base[vocab.first_char_id :] = True
    lp, state = stepper.step(
        torch.tensor([vocab.form_id(skeleton.chars_per_line)]), stepper.initial(1)
    )
    counts = skeleton.forced_counts(V)
    ids: list[int] = []
    total = 0.0
    for pos, forced in enumerate(skeleton.slots):
        if forced is not None:
            choice = forced
        else:
            logits = (
                lp[0].masked_fill(~_allowed(base, counts, max_repeat)[0], NEG_INF) / temperature
            )
            choice = _draw(logits, generator, top_k, top_p)
            counts[0, choice] += 1
        total += float(lp[0, choice])
        ids.append(choice)
        if pos + 1 < len(skeleton.slots):
            lp, state = stepper.step(torch.tensor([choice]), state)
    return Decoded(ids, total / len(skeleton.slots))


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
