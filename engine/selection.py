"""Choosing a beam search's next hypotheses: each diverse group's best continuations, novel at a
line's end, with part of the beam kept for hypotheses that have placed their line's keyword."""

from __future__ import annotations

import math

import torch

from engine.constraints import RELAX_NOVELTY
from engine.top import top


def select(total, group, groups, width, diversity, constraints, cstate, slot, relaxed):
    """Each group's best `width` continuations; later groups pay for characters that earlier
    groups picked at this step. Returns (rows, tokens, relaxed, group) of the new beam."""
    V = total.size(1)
    if groups == 1:
        rows, tok, rel = best(total.view(-1), V, width, constraints, cstate, slot, relaxed)
        return rows, tok, rel, torch.zeros_like(rows)
    used = torch.zeros(V)
    parts = []
    start = 0  # the rows of each group are contiguous, in group order
    for g, size in enumerate(torch.bincount(group, minlength=groups).tolist()):
        if size == 0:
            continue
        block = total[start : start + size]
        if g and diversity:
            block = block - diversity * used
        members = torch.arange(start, start + size)
        rows, tok, rel = best(
            block.reshape(-1), V, width, constraints, cstate, slot, relaxed, members
        )  # fmt: skip
        used[tok] = 1.0
        parts.append((rows, tok, rel, torch.full_like(rows, g)))
        start += size
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


def best(flat, V, beam_size, constraints, cstate, slot, relaxed, members=None):
    """The best `beam_size` finite candidates; at a line's end, skipping any that would
    complete a corpus line (if every candidate would, novelty is relaxed for those rows).
    `members` maps the rows of `flat` to hypothesis rows (all rows when None). Where the line
    has a planned keyword, part of the beam is kept for candidates that place it (_reserve)."""
    novelty = constraints.checks_novelty(slot)
    values, index = top(flat, min(beam_size * (3 if novelty else 1), flat.numel()))
    if slot in constraints.keyword_at and cstate.kw is not None:
        values, index = _with_keyword_starts(flat, V, values, index, constraints, cstate, slot,
                                             members)  # fmt: skip
    keep = torch.isfinite(values)
    values, index = values[keep], index[keep]
    rows, tok = index // V, index % V
    if members is not None:
        rows = members[rows]
    relaxed = relaxed[rows]
    if novelty:
        copied = constraints.copied(cstate, rows, tok)
        if bool(copied.all()):
            relaxed = relaxed | RELAX_NOVELTY
        else:
            fresh = ~copied
            values, rows, tok, relaxed = values[fresh], rows[fresh], tok[fresh], relaxed[fresh]
    progress = constraints.keyword_progress(cstate, rows, tok, slot)
    if progress is not None:
        pick = _reserve(progress > 0, beam_size)
        return rows[pick], tok[pick], relaxed[pick]
    n = min(beam_size, values.numel())
    return rows[:n], tok[:n], relaxed[:n]


RESERVED = 0.5  # share of a beam kept for hypotheses that have placed (or begun) their keyword


def _with_keyword_starts(flat, V, values, index, constraints, cstate, slot, members):
    """The top candidates plus every hypothesis's candidate that begins the keyword here, in
    engine.top's order (score, then lowest index)."""
    ks = constraints.keyword_at[slot]
    B = flat.numel() // V
    hyp = torch.arange(B) if members is None else members
    if not ks.starts_here:
        return values, index
    waiting = (cstate.kw[hyp] == 0).nonzero().squeeze(1)
    extra = waiting * V + ks.ids[0]
    index = torch.unique(torch.cat([index, extra]))  # ascending: ties keep the lowest first
    values, order = top(flat[index], index.numel())
    return values, index[order]


def _reserve(placed: torch.Tensor, beam_size: int) -> torch.Tensor:
    """Indices (in candidate order) of the kept candidates: the best RESERVED share among
    those that placed their keyword, then the best of the rest, in candidate order."""
    n = min(beam_size, placed.numel())
    quota = min(int(placed.sum()), math.ceil(beam_size * RESERVED))
    first = placed.nonzero().squeeze(1)[:quota]
    taken = torch.zeros_like(placed)
    taken[first] = True
    rest = (~taken).nonzero().squeeze(1)[: n - first.numel()]
    return torch.cat([first, rest]).sort().values
