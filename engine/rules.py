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


def trigram_bans(
    hist: torch.Tensor, pos: int, forced_next: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, ids) that would complete a character 3-gram already in the row's history (B, T).

    `pos` is the slot's position in its line: a 3-gram never spans a line break. When the next
    slot is forced, ids that would make (previous, id, forced) a repeat are banned too."""
    T = hist.size(1)
    rows, ids = [], []
    if T >= 3 and pos >= 2:  # (a, b, ?) with a, b the row's last two characters
        match = (hist[:, : T - 2] == hist[:, T - 2 : T - 1]) & (
            hist[:, 1 : T - 1] == hist[:, T - 1 :]
        )
        r, c = match.nonzero(as_tuple=True)
        rows.append(r)
        ids.append(hist[:, 2:][r, c])
    if T >= 3 and forced_next is not None and pos >= 1:  # (b, ?, forced)
        match = (hist[:, : T - 2] == hist[:, T - 1 :]) & (hist[:, 2:] == forced_next)
        r, c = match.nonzero(as_tuple=True)
        rows.append(r)
        ids.append(hist[:, 1 : T - 1][r, c])
    if not rows:
        return _EMPTY, _EMPTY
    return torch.cat(rows), torch.cat(ids)


def rhyme_bans(
    hist: torch.Tensor, earlier: list[int], later_forced: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, ids) already ending an earlier rhyming line (slots `earlier`) of the row, or
    forced to end a later one."""
    B = hist.size(0)
    used = hist[:, earlier]  # (B, R)
    rows = torch.arange(B).repeat_interleave(used.size(1))
    ids = used.reshape(-1)
    if later_forced:
        rows = torch.cat([rows, torch.arange(B).repeat_interleave(len(later_forced))])
        ids = torch.cat([ids, torch.tensor(later_forced).repeat(B)])
    return rows, ids


_EMPTY = torch.zeros(0, dtype=torch.long)


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
        """Both tables; where both penalise an n-gram, the larger penalty. Only the prefixes
        `other` has are rebuilt, so merging a chat's few recent phrases into the large cliché
        table is cheap."""
        out = PhrasePenalties()
        out.by_prefix = dict(self.by_prefix)
        for prefix, (ids, vals) in other.by_prefix.items():
            mine = out.by_prefix.get(prefix)
            if mine is None:
                out.by_prefix[prefix] = (ids, vals)
                continue
            nexts = dict(zip(mine[0].tolist(), mine[1].tolist(), strict=True))
            for i, v in zip(ids.tolist(), vals.tolist(), strict=True):
                nexts[i] = max(nexts.get(i, 0.0), v)
            out.by_prefix[prefix] = (
                torch.tensor(list(nexts), dtype=torch.long),
                torch.tensor(list(nexts.values())),
            )
        out.lengths = sorted({len(p) for p in out.by_prefix})
        return out

    def sparse(
        self, hist: torch.Tensor, pos: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(rows, ids, nats) of the penalties on each row's next character, or None if none
        apply; an id completing n-grams of several lengths appears once per length."""
        rows, ids, vals = [], [], []
        history = hist.tolist()
        for n in self.lengths:
            if pos < n:
                continue
            for b, row in enumerate(history):
                hit = self.by_prefix.get(tuple(row[-n:]))
                if hit is not None:
                    rows.append(torch.full_like(hit[0], b))
                    ids.append(hit[0])
                    vals.append(hit[1])
        if not rows:
            return None
        return torch.cat(rows), torch.cat(ids), torch.cat(vals)

    def at(self, hist: torch.Tensor, pos: int, V: int) -> torch.Tensor | None:
        """(B, V) penalties (≤ 0) for the next character of each row, or None if none apply."""
        found = self.sparse(hist, pos)
        if found is None:
            return None
        out = torch.zeros(hist.size(0), V)
        rows, ids, vals = found
        return out.index_put_((rows, ids), -vals, accumulate=True)


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
