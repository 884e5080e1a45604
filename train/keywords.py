"""Each corpus line's own keyword, for training a generator that follows a plan.

A line is segmented and tagged with rjieba (jieba's dictionary in Rust: 金榜题名, 乘风破浪 are words; no
pkg_resources, a millisecond a thousand lines), and its keyword is the noun of 2–3 Han
characters with the highest inverse document frequency over the corpus lines, among words
frequent enough to be vocabulary rather than segmentation noise (TF-IDF with tf = 1 in a line).
Cached beside the corpus as `<split>.keywords.txt` (one poem a line, its lines' keywords joined
by '|', '' for a line without one).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable
from pathlib import Path

from engine.text import is_han
from train.corpus import read_split

MIN_LINES = 20  # a word in fewer corpus lines is more likely a segmentation accident
MAX_SHARE = 0.002  # a word in more than 0.2% of the lines (不知, 何处) says nothing of one line


def lines_of(poem: str) -> list[str]:
    return [line for line in poem.replace("。", "，").split("，") if line]


# jieba's part-of-speech tags of words that name a thing, a place or a time: the imagery a plan
# is made of (谁知, 不信, 何事 are tagged v, v, r and are never keywords)
NOUNS = frozenset({"n", "ng", "nr", "nrt", "ns", "nt", "nz", "s", "t", "vn", "an"})


def words(line: str) -> list[str]:
    """The line's nouns of 2–3 Han characters, in order, by rjieba."""
    import rjieba

    return [
        w for w, tag in rjieba.tag(line)
        if tag in NOUNS and 2 <= len(w) <= 3 and all(is_han(c) for c in w)
    ]  # fmt: skip


class LineKeywords:
    """Document frequencies of words over corpus lines, and the keyword of a line."""

    def __init__(self, counts: collections.Counter[str], lines: int):
        self.counts, self.lines = counts, max(lines, 1)

    @classmethod
    def build(cls, poems: Iterable[str]) -> LineKeywords:
        counts: collections.Counter[str] = collections.Counter()
        n = 0
        for poem in poems:
            for line in lines_of(poem):
                counts.update(set(words(line)))
                n += 1
        return cls(counts, n)

    def idf(self, word: str) -> float:
        return math.log(self.lines / (1 + self.counts.get(word, 0)))

    def usable(self, word: str) -> bool:
        n = self.counts.get(word, 0)
        return MIN_LINES <= n <= MAX_SHARE * self.lines

    def keyword(self, line: str) -> str:
        """The line's most specific usable word, '' if it has none."""
        found = [w for w in words(line) if self.usable(w)]
        return max(found, key=self.idf) if found else ""


def keyword_file(corpus: Path, split: str) -> Path:
    return Path(corpus) / f"{split}.keywords.txt"


def build_keywords(corpus: Path, splits=("train", "val", "test")) -> dict[str, int]:
    """Write `<split>.keywords.txt` for each split (document frequencies from the train split);
    returns the poems written per split."""
    index = LineKeywords.build(read_split(corpus, "train"))
    written = {}
    for split in splits:
        poems = read_split(corpus, split)
        rows = ["|".join(index.keyword(line) for line in lines_of(p)) for p in poems]
        keyword_file(corpus, split).write_text("\n".join(rows) + "\n", encoding="utf-8")
        written[split] = len(rows)
    return written


def read_keywords(corpus: Path, split: str) -> list[tuple[str, ...]]:
    """Per poem of the split, its lines' keywords; built first if the cache is missing."""
    path = keyword_file(corpus, split)
    if not path.exists():
        build_keywords(corpus)
    rows = path.read_text(encoding="utf-8").split("\n")[:-1]
    return [tuple(row.split("|")) for row in rows]
