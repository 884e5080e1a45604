"""Blind quality panels: shuffled sheets with secret keys, and the scores raters give them."""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I for a rater to mistype
_WIDE = str.maketrans(",.;?!", "，。；？！")
_LINE = re.compile(r"[^，。；？！]+[，。；？！]?")
_SEPARATORS = re.compile(r"[\s,:;|`*]+")

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


def _value(kind: str, values: list[str]) -> tuple | None:
    """The answer on one line, or None where it doesn't fit the id's sheet."""
    if kind == "pair":
        verdict = values[0].upper() if len(values) == 1 else ""
        return (verdict,) if verdict in ("A", "B", "=") else None
    try:
        numbers = tuple(float(v) for v in values)
    except ValueError:
        return None
    wanted = 4 if kind == "quality" else 1
    return numbers if len(numbers) == wanted and all(1 <= x <= 5 for x in numbers) else None


def parse_ratings(text: str, kinds: dict[str, str], name: str = "ratings") -> tuple[dict, list]:
    """Answers by id (kinds: id → quality, relevance or pair) and one note per skipped line."""
    answers: dict[str, tuple] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), 1):
        tokens = [t for t in _SEPARATORS.split(raw) if t]
        if not tokens or tokens[0].startswith("#"):
            continue
        pid, values = tokens[0].upper(), tokens[1:]
        value = _value(kinds[pid], values) if pid in kinds else None
        if pid not in kinds:
            problem = "unknown id"
        elif value is None:
            problem = "not in the answer format"
        elif pid in answers:
            problem = "id answered twice, first answer kept"
        else:
            answers[pid] = value
            continue
        problems.append(f"{name}:{number}: {problem}: `{raw.strip()}`")
    return answers, problems


def wilson_interval(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% at z = 1.96)."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = wins / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f}" if values else "—"


def _means_table(sources: list[str], rated: list[tuple[dict, tuple]]) -> list[str]:
    lines = ["| source | fluency | coherence | meaning | overall | n | relevance | n rel |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for source in sources:
        quality = [v for entry, v in rated if entry["source"] == source and len(v) == 4]
        relevance = [v[0] for entry, v in rated if entry["source"] == source and len(v) == 1]
        means = [_mean([q[i] for q in quality]) for i in range(4)]
        row = [source, *means, str(len(quality)), _mean(relevance), str(len(relevance))]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _agreement(names: list[str], rated: list[list[tuple[dict, tuple]]]) -> list[str]:
    """Overall scores of the same poems by two rating files: Pearson r, mean absolute gap."""
    lines = ["### Agreement (overall)", "", "| files | poems | Pearson r | mean abs diff |"]
    lines.append("|---|---|---|---|")
    overall = [
        {(e["source"], e["head"], e["text"]): v[3] for e, v in one if len(v) == 4} for one in rated
    ]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            common = sorted(overall[i].keys() & overall[j].keys())
            if not common:
                continue
            x, y = [overall[i][c] for c in common], [overall[j][c] for c in common]
            try:
                r = f"{statistics.correlation(x, y):.2f}"
            except statistics.StatisticsError:  # under two poems, or one file's scores all equal
                r = "—"
            gap = statistics.fmean(abs(p - q) for p, q in zip(x, y, strict=True))
            lines.append(f"| {names[i]} vs {names[j]} | {len(common)} | {r} | {gap:.2f} |")
    return [*lines, ""] if len(lines) > 4 else []


def _read(path: Path, entries: dict, problems: list[str]) -> dict[str, tuple]:
    kinds = {pid: entry.get("kind", "pair") for pid, entry in entries.items()}
    answers, skipped = parse_ratings(path.read_text(encoding="utf-8"), kinds, path.name)
    problems += skipped
    return answers


def _sheet_section(key: dict, files: list[Path], problems: list[str]) -> list[str]:
    out = ["## Means by source (1–5)", ""]
    if not files:
        return [*out, "No rating files (ratings*.txt) yet.", ""]
    rated = []
    for path in files:
        answers = _read(path, key["ids"], problems)
        rated.append([(key["ids"][pid], value) for pid, value in answers.items()])
        out += [f"### {path.name}", "", *_means_table(key["sources"], rated[-1])]
    if len(files) > 1:
        every = [item for one in rated for item in one]
        out += ["### All rating files", "", *_means_table(key["sources"], every)]
        out += _agreement([p.name for p in files], rated)
    return out


def _pairs_section(key: dict, files: list[Path], problems: list[str]) -> list[str]:
    out = [f"## Pairs: {key['b']} (B set) against {key['a']} (A set)", ""]
    if not files:
        return [*out, "No pair rating files (pairs_ratings*.txt) yet.", ""]
    out += ["| file | wins | losses | ties | win rate | 95% Wilson interval | verdict |"]
    out += ["|---|---|---|---|---|---|---|"]
    for path in files:
        answers = _read(path, key["pairs"], problems)
        picks = [key["pairs"][pid][v[0]] if v[0] != "=" else "=" for pid, v in answers.items()]
        wins, losses = picks.count(key["b"]), picks.count(key["a"])
        low, high = wilson_interval(wins, wins + losses)
        rate = f"{wins / (wins + losses):.2f}" if wins + losses else "—"
        verdict = "win" if low > 0.5 else "loss" if high < 0.5 else "no clear winner"
        cells = [path.name, wins, losses, picks.count("="), rate, f"{low:.2f}–{high:.2f}", verdict]
        out.append("| " + " | ".join(map(str, cells)) + " |")
    return [*out, "", "Win rate = wins / (wins + losses); ties are left out.", ""]


def score(
    directory: Path, ratings: list[Path] | None = None, pairs: list[Path] | None = None
) -> str:
    """A panel's results as markdown: means by source, rater agreement, pair win rates.

    RATINGS and PAIRS default to DIR/ratings*.txt and DIR/pairs_ratings*.txt."""
    key, pairs_key = directory / "key.json", directory / "pairs_key.json"
    if not key.exists() and not pairs_key.exists():
        raise ValueError(f"{directory} has neither key.json nor pairs_key.json")
    if (ratings and not key.exists()) or (pairs and not pairs_key.exists()):
        raise ValueError(f"{directory} has no key for those ratings")
    out, problems = [f"# Panel scores: {directory.name}", ""], []
    if key.exists():
        files = sorted(directory.glob("ratings*.txt")) if ratings is None else ratings
        out += _sheet_section(json.loads(key.read_text(encoding="utf-8")), files, problems)
    if pairs_key.exists():
        files = sorted(directory.glob("pairs_ratings*.txt")) if pairs is None else pairs
        out += _pairs_section(json.loads(pairs_key.read_text(encoding="utf-8")), files, problems)
    if problems:
        out += ["## Skipped lines", "", *(f"- {p}" for p in problems), ""]
    return "\n".join(out)
