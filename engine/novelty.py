"""Novelty guard: 32-bit hashes of every corpus line, so a poem never copies a whole line.

The hash is a polynomial over code points, computed the same way in Python (corpus side) and
incrementally over token ids in the decoder. A false positive (chance 1 in ~3,000 per line for
1.4M corpus lines) only makes the decoder pick its next-best candidate.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

BASE, MASK = 1_000_003, 0xFFFFFFFF


def line_hash(line: str) -> int:
    h = 0
    for ch in line:
        h = (h * BASE + ord(ch)) & MASK
    return h


def corpus_line_hashes(poems: Iterable[str]) -> torch.Tensor:
    """Sorted unique hashes (int64) of every line of every poem (lines split at ，。)."""
    hashes = {
        line_hash(line) for poem in poems for line in poem.replace("。", "，").split("，") if line
    }
    return torch.tensor(sorted(hashes), dtype=torch.int64)


class LineIndex:
    """Membership tests for line hashes; `advance` extends per-hypothesis running hashes."""

    def __init__(self, hashes: torch.Tensor, tokens: list[str]):
        self.hashes = hashes.to(torch.int64).contiguous()
        self.codepoints = torch.tensor(
            [ord(t) if len(t) == 1 else 0 for t in tokens], dtype=torch.int64
        )

    def __len__(self) -> int:
        return self.hashes.numel()

    def advance(self, running: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """running (N,) hashes of line prefixes, ids (N,) next tokens → hashes with them."""
        return (running * BASE + self.codepoints[ids]) & MASK

    def contains(self, hashes: torch.Tensor) -> torch.Tensor:
        """(N,) bool: hash is a corpus line."""
        if not len(self):
            return torch.zeros_like(hashes, dtype=torch.bool)
        pos = torch.searchsorted(self.hashes, hashes).clamp(max=len(self) - 1)
        return self.hashes[pos] == hashes
