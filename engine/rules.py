"""Anti-formula rules for the search. Hard: no character 3-gram twice in a poem, no two rhyming
lines ending in the same character, only basic-block characters generated. Soft: penalties on
n-grams the model overuses (its clichés) and on phrases the same chat received recently."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

BASIC_BLOCK = (0x4E00, 0x9FFF)  # CJK Unified Ideographs: every phone font renders these


def in_basic_block(ch: str) -> bool:
    return len(ch) == 1 and BASIC_BLOCK[0] <= ord(ch) <= BASIC_BLOCK[1]


def basic_block_mask(tokens: list[str]) -> torch.Tensor:
    """(V,) bool: tokens the decoder may generate (specials and rarer blocks never)."""
    return torch.tensor([in_basic_block(tok) for tok in tokens], dtype=torch.bool)


def fresh_trigrams(
    hist: torch.Tensor, pos: int, V: int, forced_next: int | None = None
) -> torch.Tensor:
    """(B, V) ids that complete no character 3-gram already in each row's history (B, T).

    `pos` is the slot's position in its line: a 3-gram never spans a line break. When the next
    slot is forced, ids that would make (previous, id, forced) a repeat are refused too."""
    B, T = hist.shape
    allowed = torch.ones(B, V, dtype=torch.bool)
    if T < 3:
        return allowed
    if pos >= 2:  # (a, b, ?) with a, b the row's last two characters
        match = (hist[:, : T - 2] == hist[:, T - 2 : T - 1]) & (
            hist[:, 1 : T - 1] == hist[:, T - 1 :]
        )
        _ban(allowed, match, hist[:, 2:])
    if forced_next is not None and pos >= 1:  # (b, ?, forced)
        match = (hist[:, : T - 2] == hist[:, T - 1 :]) & (hist[:, 2:] == forced_next)
        _ban(allowed, match, hist[:, 1 : T - 1])
    return allowed


def fresh_rhymes(
    hist: torch.Tensor, earlier: list[int], later_forced: list[int], V: int
) -> torch.Tensor:
    """(B, V) ids not already ending an earlier rhyming line (slots `earlier`) and not forced
    to end a later one."""
    allowed = torch.ones(hist.size(0), V, dtype=torch.bool)
    if earlier:
        used = hist[:, earlier]  # (B, R)
        allowed.scatter_(1, used, False)
    if later_forced:
        allowed[:, later_forced] = False
    return allowed


def _ban(allowed: torch.Tensor, match: torch.Tensor, following: torch.Tensor) -> None:
    rows, cols = match.nonzero(as_tuple=True)
    if rows.numel():
        allowed[rows, following[rows, cols]] = False


class PhrasePenalties:
    """Soft penalties in nats on completing given character n-grams (2 to 5 characters).

    Looked up by the row's last n-1 characters in the current line, so a step costs one dict
    lookup per row and n-gram length."""

    def __init__(self, table: Mapping[tuple[int, ...], float] | None = None):
        # prefix ids → (next ids, penalties)
        self.by_prefix: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        grouped: dict[tuple[int, ...], dict[int, float]] = {}
        for ids, nats in (table or {}).items():
            slot = grouped.setdefault(tuple(ids[:-1]), {})
            slot[ids[-1]] = max(slot.get(ids[-1], 0.0), float(nats))
        for prefix, nexts in grouped.items():
            self.by_prefix[prefix] = (
                torch.tensor(list(nexts), dtype=torch.long),
                torch.tensor(list(nexts.values())),
            )
        self.lengths = sorted({len(p) for p in self.by_prefix})

    @classmethod
    def from_phrases(
        cls, phrases: Mapping[str, float] | Iterable[str], index: Mapping[str, int], nats=1.0
    ) -> PhrasePenalties:
        """From n-gram strings (with their penalties, or one penalty for all); n-grams with a
        character outside the vocabulary can never be written and are skipped."""
        items = phrases.items() if isinstance(phrases, Mapping) else ((p, nats) for p in phrases)
        table = {}
        for phrase, value in items:
            if 2 <= len(phrase) <= 5 and all(ch in index for ch in phrase):
                key = tuple(index[ch] for ch in phrase)
                table[key] = max(table.get(key, 0.0), float(value))
        return cls(table)

    def __bool__(self) -> bool:
        return bool(self.by_prefix)

    def merged(self, other: PhrasePenalties) -> PhrasePenalties:
        """Both tables; where both penalise an n-gram, the larger penalty."""
        table: dict[tuple[int, ...], float] = {}
        for source in (self, other):
            for prefix, (ids, vals) in source.by_prefix.items():
                for i, v in zip(ids.tolist(), vals.tolist(), strict=True):
                    key = (*prefix, i)
                    table[key] = max(table.get(key, 0.0), v)
        return PhrasePenalties(table)

    def at(self, hist: torch.Tensor, pos: int, V: int) -> torch.Tensor | None:
        """(B, V) penalties (≤ 0) for the next character of each row, or None if none apply."""
        out = None
        rows = hist.tolist()
        for n in self.lengths:
            if pos < n:
                continue
            for b, row in enumerate(rows):
                hit = self.by_prefix.get(tuple(row[-n:]))
                if hit is None:
                    continue
                if out is None:
                    out = torch.zeros(len(rows), V)
                ids, vals = hit
                out[b, ids] = torch.minimum(out[b, ids], -vals)
        return out


def repeated_trigrams(lines: list[str]) -> list[str]:
    """Character 3-grams that occur more than once in a poem (within lines)."""
    seen, repeated = set(), []
    for line in lines:
        for i in range(len(line) - 2):
            gram = line[i : i + 3]
            if gram in seen and gram not in repeated:
                repeated.append(gram)
            seen.add(gram)
    return repeated


def repeated_rhyme_ends(lines: list[str], rhyme_lines: list[int]) -> list[str]:
    """Characters that end more than one rhyming line."""
    ends = [lines[i][-1] for i in rhyme_lines]
    return sorted({ch for ch in ends if ends.count(ch) > 1})
