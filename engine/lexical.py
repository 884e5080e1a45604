"""Lexical constraints: line i holds its planned keyword, at a position the search chooses.

Grid-beam style: every hypothesis carries how far into the current line's keyword it is
(`progress`: 0 not placed, j of its characters placed, DONE). A hypothesis that has begun a
keyword must go on with it; one that has not may begin it at any start where the keyword fits
the line (the head's slot included when the keyword begins with the head character), and must
begin it at the last such start. The rule is hard: a hypothesis that can no longer place it
drops out, unless no hypothesis of the poem can (then it is relaxed for the line and the poem
records "keyword": the soft fallback). Selection (engine.decode._top) keeps part of the beam
for hypotheses that have placed or begun their keyword, so placing it early is not crowded out
by hypotheses that put it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DONE = 127  # progress of a hypothesis whose line holds its keyword


@dataclass(frozen=True)
class KeywordSlot:
    """What one slot of a line with a keyword needs to know."""

    ids: tuple[int, ...]  # the keyword's ids
    pos: int  # the slot's position in the line
    starts_here: bool  # the keyword may begin at this slot
    last_start: bool  # no later slot of the line can begin it
    line_end: bool  # the line's last character slot


def keyword_slots(
    keywords: tuple[tuple[int, ...], ...],
    starts: list[int],
    ends: list[int],
    forced: dict[int, int],
    spared: frozenset[int] = frozenset(),
) -> dict[int, KeywordSlot]:
    """slot → KeywordSlot for every character slot of every line that has a keyword; a
    keyword covers a `spared` slot only where its line leaves it no other room."""
    out = {}
    for line, ids in enumerate(keywords):
        if not ids or line >= len(starts):
            continue
        first, last = starts[line], ends[line]
        valid = [
            s for s in range(first, last - len(ids) + 2)
            if all(forced.get(s + k, ids[k]) == ids[k] for k in range(len(ids)))
        ]  # fmt: skip
        valid = [s for s in valid if not spared & set(range(s, s + len(ids)))] or valid
        final = max(valid, default=None)
        for slot in range(first, last + 1):
            out[slot] = KeywordSlot(
                ids, slot - first, slot in valid, final is None or slot >= final, slot == last
            )
    return out


def progress_after(progress: torch.Tensor, tok: torch.Tensor, ks: KeywordSlot) -> torch.Tensor:
    """(N,) progress after choosing tok (N,) at this slot from progress (N,)."""
    L = len(ks.ids)
    ids = torch.tensor(ks.ids)
    going = (progress > 0) & (progress < L)
    expected = ids[progress.clamp(0, L - 1)]
    step = torch.where(going & (tok == expected), progress + 1, progress)
    if ks.starts_here:
        step = torch.where((progress == 0) & (tok == ids[0]), torch.ones_like(step), step)
    return torch.where(step >= L, torch.full_like(step, DONE), step)


def keyword_mask(progress: torch.Tensor, V: int, ks: KeywordSlot) -> torch.Tensor | None:
    """(B, V) ids each hypothesis may choose at this slot under the rule; None: no limit."""
    L = len(ks.ids)
    going = (progress > 0) & (progress < L)
    must_start = (progress == 0) & torch.tensor(ks.last_start)
    if not bool((going | must_start).any()):
        return None
    mask = torch.ones(progress.size(0), V, dtype=torch.bool)
    ids = torch.tensor(ks.ids)
    rows = going.nonzero().squeeze(1)
    if rows.numel():
        mask[rows] = False
        mask[rows, ids[progress[rows]]] = True
    rows = must_start.nonzero().squeeze(1)
    if rows.numel():
        mask[rows] = False
        if ks.starts_here:
            mask[rows, ids[0]] = True
    return mask


def unplaced(progress: torch.Tensor, ks: KeywordSlot) -> torch.Tensor:
    """(B,) bool: at the line's end, hypotheses whose line lacks its keyword."""
    return progress != DONE
