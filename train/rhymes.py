"""`acrostic corpus rhymes`: which 平水韵 groups each 多音字 is really rhymed in, from the corpus.

The rhyme table lists a polyphonic character in every group of every reading, rare ones included
(逢 is 二冬, but also 一东 as 蓬). Regular poems say which readings poets rhymed: where the even
lines' last characters share exactly one 平 group by the table, that group is the poem's rhyme, and
each of those characters is counted once in it. A character keeps the readings with real evidence.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.forms import rhyme_lines
from engine.prosody import Prosody
from train.corpus import corpus_fingerprint, read_split

# A reading is kept when it has at least MIN_USES counted rhyme uses, at least MIN_SHARE of the
# character's counted uses, and at least OVER_MIXING times the uses that 通押 alone would put there.
# Why not a plain share: Song poets often mix neighbouring groups (东/冬, 佳/灰, 覃/咸), and a mixed
# poem whose 冬 character has a rare 东 reading counts as a clean 一东 poem. On the real corpus
# 13% of 二冬 uses of single-reading characters sit in 一东 poems, and 逢 has 60 一东 uses against
# 477 二冬 (11%): all mixing. Real second readings stand far above their mixing rate (行 七阳 18%,
# 丁 八庚 10% against 5% 青→庚 mixing, 旗 五微 6% against 1% 支→微), so a share threshold alone either
# keeps 逢's 一东 (at 10%) or drops real readings (at 15%). MIN_USES: one use is as likely an
# irregular or mis-split poem as a reading; MIN_SHARE drops a handful of uses among hundreds.
MIN_USES = 2
MIN_SHARE = 0.05
OVER_MIXING = 2.0


@dataclass
class Tally:
    uses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    # single-reading characters: uses in their own group, and uses in a poem rhyming in another
    proper: Counter = field(default_factory=Counter)
    mixed: Counter = field(default_factory=Counter)  # (own group, poem's group) → uses

    def mixing_rate(self, own: str, poem: str) -> float:
        return self.mixed[own, poem] / self.proper[own] if self.proper[own] else 0.0


def rhyme_ends(poem: str) -> list[str]:
    """The last characters of a poem's even lines."""
    lines = [line for line in poem.replace("。", "，").split("，") if line]
    return [lines[i][-1] for i in rhyme_lines(len(lines))]


def _shared(sets: Iterable[frozenset[str]]) -> frozenset[str] | None:
    common = None
    for names in sets:
        common = names if common is None else common & names
    return common


def tally(poems: Iterable[str], table: Prosody) -> Tally:
    """Count each end character's rhyme uses in the poems whose rhyme group is unambiguous by
    `table` (the full table, Prosody.load(attested=False)), and how often single-reading
    characters end a line of a poem rhyming in another group (通押)."""
    out = Tally()
    cache: dict[str, frozenset[str]] = {}

    def ping(ch: str) -> frozenset[str]:
        if ch not in cache:
            cache[ch] = frozenset(table.ping_group_names(ch))
        return cache[ch]

    for poem in poems:
        ends = rhyme_ends(poem)
        common = _shared(ping(ch) for ch in ends)
        if common is not None and len(common) == 1:
            (group,) = common
            for ch in ends:
                out.uses[ch][group] += 1
        for k, ch in enumerate(ends):  # leave-one-out: the others' rhyme against ch's own
            if len(ping(ch)) != 1:
                continue
            (own,) = ping(ch)
            others = _shared(ping(o) for j, o in enumerate(ends) if j != k)
            if others and own in others:
                out.proper[own] += 1
            elif others and len(others) == 1:
                out.mixed[own, next(iter(others))] += 1
    return out


def attested(uses: Counter, counts: Tally) -> list[str]:
    """The readings of one character that pass the thresholds, most used first."""
    total = sum(uses.values())
    kept = []
    for group, n in uses.most_common():
        mixing = sum(counts.mixing_rate(g, group) * m for g, m in uses.items() if g != group)
        if n >= MIN_USES and n >= MIN_SHARE * total and n >= OVER_MIXING * mixing:
            kept.append(group)
    return kept


def derive_rhymes(poems: list[str], table: Prosody) -> dict:
    """{"thresholds", "groups", "uses"} for every character of the poems with several 平 groups.

    A polyphonic character with no reading that passes (句, mostly 仄 jù; 湛) rhymes in no group:
    the table cannot say which reading a poem means, and the decoder has attested alternatives.
    """
    counts = tally(poems, table)
    chars = sorted(set("".join(poems)))
    polyphonic = [ch for ch in chars if len(table.ping_group_names(ch)) > 1]
    return {
        "thresholds": {
            "min_uses": MIN_USES,
            "min_share": MIN_SHARE,
            "over_mixing": OVER_MIXING,
        },
        "groups": {ch: attested(counts.uses.get(ch, Counter()), counts) for ch in polyphonic},
        "uses": {
            ch: dict(counts.uses[ch].most_common()) for ch in polyphonic if ch in counts.uses
        },
    }


def build_rhymes(corpus_dir: Path, out: Path) -> dict:
    """Derive the table from the train split, write it atomically to OUT; a short summary."""
    table = Prosody.load(attested=False)
    derived = derive_rhymes(read_split(corpus_dir, "train"), table)
    body = {"source": corpus_fingerprint(corpus_dir), **derived}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_dumps(body))
        os.chmod(tmp, 0o644)  # package data: mkstemp's 0600 would hide it from other users
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    groups = derived["groups"]
    return {
        "source": body["source"],
        "out": str(out),
        "polyphonic": len(groups),
        "narrowed": sum(len(g) < len(table.ping_group_names(ch)) for ch, g in groups.items()),
        "unattested": sum(not g for g in groups.values()),
    }


def _dumps(body: dict) -> str:
    """JSON with one character a line, so that a re-derivation diffs character by character."""

    def dumps(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    parts = []
    for key, value in body.items():
        if key in ("groups", "uses"):
            rows = ",\n".join(f"    {dumps(ch)}: {dumps(v)}" for ch, v in value.items())
            parts.append(f"  {dumps(key)}: {{\n{rows}\n  }}")
        else:
            parts.append(f"  {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"
