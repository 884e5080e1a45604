"""Character vocabulary: specials first, then characters by corpus frequency; append-only."""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Iterable, Sequence

from engine.text import COMMA, PERIOD, is_han

UNK, EOS, FIVE, SEVEN = "<unk>", "<eos>", "<5>", "<7>"
SPECIALS = (UNK, EOS, FIVE, SEVEN, COMMA, PERIOD)
FORM_IDS = (2, 3)  # the ids of <5> and <7>: where the poem proper begins
SEP = "<sep>"  # ends the theme prefix; appended (ids are append-only), so its id varies
KW = "<kw>"  # ends a line's keywords, fed right before the line they govern; appended after SEP


class Vocab:
    """Maps tokens to ids. Ids never change: a new version may only append tokens."""

    def __init__(self, tokens: Sequence[str]):
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError("vocabulary must start with the special tokens")
        self.tokens: list[str] = list(tokens)
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary has duplicate tokens")
        self.unk, self.eos = self.index[UNK], self.index[EOS]
        self.comma, self.period = self.index[COMMA], self.index[PERIOD]
        self.sep: int | None = self.index.get(SEP)
        self.kw: int | None = self.index.get(KW)

    @property
    def themed(self) -> bool:
        """Whether this vocabulary frames poems with a theme prefix."""
        return self.sep is not None

    @property
    def planned(self) -> bool:
        """Whether this vocabulary frames each line with its keywords (a plan)."""
        return self.kw is not None

    def with_separator(self) -> Vocab:
        """This vocabulary with the theme separator appended (itself if it already has one)."""
        return self.with_tokens(SEP)

    def with_tokens(self, *tokens: str) -> Vocab:
        """This vocabulary with the tokens it lacks appended: the ids it has never move."""
        new = [t for t in tokens if t not in self.index]
        return Vocab([*self.tokens, *new]) if new else self

    def keyword_ids(self, keywords: Sequence[str]) -> list[int]:
        """What is fed right before a line: its keywords' known Han characters, then <kw>;
        nothing for a line without keywords or a vocabulary without plans."""
        chars = [self.index[ch] for w in keywords for ch in w if ch in self.index and is_han(ch)]
        return [*chars, self.kw] if chars and self.kw is not None else []

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 2) -> Vocab:
        """Characters seen at least `min_count` times, most frequent first (ties by code point)."""
        counts = collections.Counter(ch for text in texts for ch in text if is_han(ch))
        chars = sorted(
            (ch for ch, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c)
        )
        return cls([*SPECIALS, *chars])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def id(self, token: str) -> int:
        return self.index.get(token, self.unk)

    def form_id(self, chars_per_line: int) -> int:
        return self.index[FIVE if chars_per_line == 5 else SEVEN]

    def encode_poem(self, text: str, theme: str = "") -> list[int]:
        """The training framing: [theme characters, <sep>,] <5>|<7>, every character and
        punctuation mark, <eos>. A themed vocabulary always has the <sep>, even with no theme;
        theme characters it does not know are left out."""
        width = len(text.split(COMMA, 1)[0].split(PERIOD, 1)[0])
        return [*self.prefix(theme), self.form_id(width), *(self.id(ch) for ch in text), self.eos]

    def prefix(self, theme: str) -> list[int]:
        """The ids before the form token: the known theme characters and <sep>."""
        if self.sep is None:
            return []
        return [*(self.index[ch] for ch in theme if ch in self.index and is_han(ch)), self.sep]

    @property
    def first_char_id(self) -> int:
        """Ids below this are specials; ids from here on are Han characters."""
        return len(SPECIALS)

    def digest(self) -> str:
        """A short hash that pins the exact id assignment."""
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()[:16]
