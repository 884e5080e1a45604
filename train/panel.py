"""Blind quality panels: shuffled sheets with secret keys, and the scores raters give them."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I for a rater to mistype
_WIDE = str.maketrans(",.;?!", "，。；？！")
_LINE = re.compile(r"[^，。；？！]+[，。；？！]?")

RUBRIC = """# Rubric (THU PQED)

You rate classical Chinese poems blind. Judge each poem on its own, by these criteria, 1–5 each.

## The quality sheet (sheet*.md): the poem text only
- fluency (通顺): each line is grammatical, idiomatic classical Chinese that reads naturally.
- coherence (连贯): the lines form one scene, thought or feeling, and each line follows sensibly
  from the one before.
- meaning (意义): the poem says something (an image, a feeling, an idea), not stock phrases strung
  together.
- overall (总体): 5 = as good as a fine Tang quatrain, 3 = passable, 1 = broken or meaningless.

Answer one line per poem id, in this exact format and nothing else:
`ID fluency coherence meaning overall`, for example `K7QM 4 3 3 3`.

## The relevance sheet (relevance*.md): acrostics shown with their head phrase
- relevance: how well the poem relates to the meaning of the head phrase (the characters that
  begin its lines). 5 = the whole poem is about it, 1 = unrelated to it.

Answer one line per poem id, in this exact format and nothing else:
`ID relevance`, for example `K7QM 4`.
"""

PAIRS_RUBRIC = """# Rubric: pairs

Each pair shows a head phrase and two acrostic poems on it, A and B. Decide which poem is the
better acrostic on that head overall: its quality as a poem (fluency, coherence, meaning) and how
well it relates to the meaning of the head phrase. Answer "=" only when neither is better.

Answer one line per pair id, in this exact format and nothing else: `ID A`, `ID B` or `ID =`,
for example `K7QM B`.
"""


@dataclass(frozen=True)
class Poem:
    source: str
    head: str
    text: str


def read_poem_set(path: Path, source: str) -> list[Poem]:
    """A JSONL poem set; text is normalised so that formatting can't betray its source."""
    poems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            head, text = str(row.get("head") or "").strip(), str(row["text"])
            if row.get("theme"):  # a head with a theme (王小明 主题:生日): raters see both
                head = f"{head}（主题：{str(row['theme']).strip()}）"
        except (ValueError, KeyError, AttributeError) as e:
            raise ValueError(f"{path}:{number}: not a poem object ({e!r})") from None
        text = "".join(text.split()).translate(_WIDE)
        if not text:
            raise ValueError(f"{path}:{number}: empty poem")
        poems.append(Poem(source, head, text))
    return poems


def poem_set_text(poems: list[Poem]) -> str:
    """Poems as a JSONL poem set."""
    return "".join(
        json.dumps({"head": p.head, "text": p.text}, ensure_ascii=False) + "\n" for p in poems
    )


def real_poems(poems: list[str], n: int, chars: int, lines: int, seed: int = 0) -> list[Poem]:
    """N corpus poems of one form (LINES lines of CHARS characters), as a set with no head."""
    form = re.compile(rf"(?:[^，。]{{{chars}}}[，。]){{{lines}}}")
    fits = [p for p in poems if form.fullmatch(p) and p.endswith("。")]
    if len(fits) < n:
        raise ValueError(f"only {len(fits)} poems of {lines} lines × {chars} characters")
    return [Poem("", "", p) for p in random.Random(seed).sample(fits, n)]


def _ids(rng: random.Random, n: int) -> list[str]:
    """N distinct random ids; drawn, not counted, so they say nothing of source or order."""
    ids: dict[str, None] = {}
    while len(ids) < n:
        ids["".join(rng.choices(ID_ALPHABET, k=4))] = None
    return list(ids)


def _verse(text: str) -> str:
    return "\n".join(_LINE.findall(text))


def make_sheet(poems: list[Poem], seed: int = 0, raters: int = 1) -> dict[str, str]:
    """A blind panel's files by name: per rater a quality and a relevance sheet; key; rubric."""
    if not poems:
        raise ValueError("no poems")
    rng = random.Random(seed)
    acrostics = [p for p in poems if p.head]
    ids = iter(_ids(rng, raters * (len(poems) + len(acrostics))))
    files, key = {}, {}
    for rater in range(1, raters + 1):
        suffix = "" if rater == 1 else f"-{rater}"
        for kind, pool in (("sheet", poems), ("relevance", acrostics)):
            if not pool:
                continue
            blocks = []
            for poem in rng.sample(pool, len(pool)):
                pid = next(ids)
                key[pid] = {"source": poem.source, "head": poem.head, "text": poem.text}
                key[pid]["kind"] = "quality" if kind == "sheet" else "relevance"
                shown = f"Head phrase: {poem.head}\n\n" if kind == "relevance" else ""
                blocks.append(f"## {pid}\n\n{shown}{_verse(poem.text)}\n")
            title = "Poems" if kind == "sheet" else "Acrostics and their head phrases"
            files[f"{kind}{suffix}.md"] = f"# {title}\n\n" + "\n".join(blocks)
    sources = list(dict.fromkeys(p.source for p in poems))
    body = {"seed": seed, "sources": sources, "ids": dict(sorted(key.items()))}
    files["key.json"] = json.dumps(body, ensure_ascii=False, indent=1) + "\n"
    files["rubric.md"] = RUBRIC
    return files


def make_pairs(a: list[Poem], b: list[Poem], seed: int = 0) -> dict[str, str]:
    """One blind pair per head in both sets, A/B order drawn per pair; pairs.md, key, rubric."""
    if not a or not b:
        raise ValueError("a poem set is empty")
    a_name, b_name = a[0].source, b[0].source
    if a_name == b_name:
        raise ValueError("the two sets need different source names")
    # reversed, so that the first poem on a head is the one kept
    first_a, first_b = ({p.head: p for p in reversed(x) if p.head} for x in (a, b))
    heads = sorted(first_a.keys() & first_b.keys())
    if not heads:
        raise ValueError("no head is in both sets")
    rng = random.Random(seed)
    rng.shuffle(heads)
    key, blocks = {}, []
    for pid, head in zip(_ids(rng, len(heads)), heads, strict=True):
        x, y = first_a[head], first_b[head]
        if rng.random() < 0.5:
            x, y = y, x
        key[pid] = {"head": head, "A": x.source, "B": y.source, "A_text": x.text, "B_text": y.text}
        verses = f"A:\n{_verse(x.text)}\n\nB:\n{_verse(y.text)}"
        blocks.append(f"## {pid}\n\nHead phrase: {head}\n\n{verses}\n")
    body = {"seed": seed, "a": a_name, "b": b_name, "pairs": dict(sorted(key.items()))}
    return {
        "pairs.md": "# Pairs\n\n" + "\n".join(blocks),
        "pairs_key.json": json.dumps(body, ensure_ascii=False, indent=1) + "\n",
        "pairs_rubric.md": PAIRS_RUBRIC,
    }
