"""Build the poem corpus from the chinese-poetry npm tarball: filter, simplify, dedup, split."""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import re
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.text import COMMA, PERIOD, is_han, to_simplified

log = logging.getLogger(__name__)

PACKAGE = "chinese-poetry@2.0.1"
TARBALL_NAME = "chinese-poetry-2.0.1.tgz"
# Tang and Song shi in the tarball: package/dist/quantangshi/poet.{tang,song}.<n>.json
MEMBER_RE = re.compile(r"^package/dist/quantangshi/poet\.(tang|song)\.\d+\.json$")
ANNOTATION_RE = re.compile(r"[（(〔\[【{][^）)〕\]】}]*[）)〕\]】}]")
CLAUSE_SPLIT_RE = re.compile(r"[，。！？；：、,.!?;:]")
SPLITS = ("train", "val", "test")
NUMERAL = "一二三四五六七八九十百千〇零两"
# "… 一", "…其二", "… 其十一" after the title proper; then "…十首", "…二首" at its end.
SERIAL_RE = re.compile(rf"(\s+其?[{NUMERAL}]+|其[{NUMERAL}]+)\s*$")
COUNT_RE = re.compile(rf"[{NUMERAL}]+首$")
GENERIC_TITLES = frozenset(
    {"句", "偈", "无题", "失题", "缺题", "题", "诗", "残句", "绝句", "断句"}
)
MAX_THEME = 12


@dataclass(frozen=True)
class Poem:
    """One regular poem, simplified, punctuated ，。，。…"""

    text: str
    dynasty: str
    title: str = ""  # cleaned theme from the poem's title, "" when it says nothing

    @property
    def chars_per_line(self) -> int:
        return len(self.text.split(COMMA, 1)[0])

    @property
    def lines(self) -> int:
        return self.text.count(COMMA) + self.text.count(PERIOD)


def fetch_tarball(cache_dir: Path) -> Path:
    """Return the cached chinese-poetry tarball, running `npm pack` once to get it."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / TARBALL_NAME
    if path.exists():
        return path
    log.info("fetching %s with npm pack into %s", PACKAGE, cache_dir)
    subprocess.run(
        ["npm", "pack", PACKAGE, "--silent", "--pack-destination", str(cache_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not path.exists():
        raise FileNotFoundError(f"npm pack did not produce {path}")
    return path


def read_raw_poems(tarball: Path) -> Iterator[tuple[str, list[str], str]]:
    """Yield (dynasty, paragraphs, title) for every Tang and Song shi, in member-name order."""
    with tarfile.open(tarball, "r:gz") as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and MEMBER_RE.match(m.name)),
            key=lambda m: m.name,
        )
        for member in members:
            dynasty = MEMBER_RE.match(member.name).group(1)
            handle = tar.extractfile(member)
            assert handle is not None
            for entry in json.load(handle):
                paragraphs = entry.get("paragraphs") or []
                title = entry.get("title")
                if isinstance(paragraphs, list):
                    paragraphs = [p for p in paragraphs if isinstance(p, str)]
                    yield dynasty, paragraphs, title if isinstance(title, str) else ""


def regularize(paragraphs: list[str]) -> str | None:
    """Return the poem as simplified '五言/七言' text with ，。 punctuation, or None if irregular."""
    raw = ANNOTATION_RE.sub("", "".join(paragraphs)).replace(" ", "").replace("\u3000", "")
    text = to_simplified(raw)
    clauses = [c for c in CLAUSE_SPLIT_RE.split(text) if c]
    if len(clauses) not in (4, 8):
        return None
    width = len(clauses[0])
    if width not in (5, 7) or any(len(c) != width for c in clauses):
        return None
    if not all(is_han(ch) for c in clauses for ch in c):
        return None
    return "".join(c + (COMMA if i % 2 == 0 else PERIOD) for i, c in enumerate(clauses))


def split_of(text: str) -> str:
    """Deterministic ~96/2/2 split by a stable hash of the poem text."""
    bucket = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % 100
    return "test" if bucket < 2 else "val" if bucket < 4 else "train"


def clean_title(raw: str) -> str:
    """A poem title as a theme: simplified Han characters, no 其N / N首 / annotations;
    "" for generic titles (句, 偈, 无题 …) that say nothing about the poem."""
    text = to_simplified(ANNOTATION_RE.sub("", raw)).strip()
    text = SERIAL_RE.sub("", text)
    text = COUNT_RE.sub("", "".join(ch for ch in text if is_han(ch)))
    if text in GENERIC_TITLES:
        return ""
    return text[:MAX_THEME]


def regular_poems(raw: Iterable[tuple[str, list[str], str]]) -> Iterator[Poem]:
    """Filter to regular poems and drop exact duplicates (first one wins)."""
    seen: set[str] = set()
    for dynasty, paragraphs, title in raw:
        text = regularize(paragraphs)
        if text is None or text in seen:
            continue
        seen.add(text)
        yield Poem(text, dynasty, clean_title(title))


def build_corpus(tarball: Path, out_dir: Path) -> dict:
    """Write train/val/test.txt (one poem per line) and stats.json; return the stats."""
    out_dir.mkdir(parents=True, exist_ok=True)
    buckets: dict[str, list[str]] = {s: [] for s in SPLITS}
    titles: dict[str, list[str]] = {s: [] for s in SPLITS}
    forms: collections.Counter[str] = collections.Counter()
    dynasties: collections.Counter[str] = collections.Counter()
    chars: collections.Counter[str] = collections.Counter()
    total = 0
    for poem in regular_poems(read_raw_poems(tarball)):
        total += 1
        buckets[split_of(poem.text)].append(poem.text)
        titles[split_of(poem.text)].append(poem.title)
        forms[f"{'五言' if poem.chars_per_line == 5 else '七言'}{poem.lines}句"] += 1
        dynasties[poem.dynasty] += 1
        chars.update(ch for ch in poem.text if is_han(ch))
    digest = hashlib.sha256()
    for split in SPLITS:
        body = "".join(text + "\n" for text in buckets[split])
        digest.update(split.encode() + b"\0" + body.encode())
        _write_atomic(out_dir / f"{split}.txt", body)
        _write_atomic(out_dir / f"{split}.titles.txt", "".join(t + "\n" for t in titles[split]))
    stats = {
        "source": PACKAGE,
        "fingerprint": digest.hexdigest()[:16],
        "poems": total,
        "splits": {s: len(buckets[s]) for s in SPLITS},
        "forms": dict(sorted(forms.items())),
        "dynasties": dict(sorted(dynasties.items())),
        "han_characters": sum(chars.values()),
        "vocabulary": len(chars),
        "titled": sum(1 for split in SPLITS for t in titles[split] if t),
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n")
    return stats


def read_split(corpus_dir: Path, split: str) -> list[str]:
    """The poems of one split, one string each."""
    return (corpus_dir / f"{split}.txt").read_text(encoding="utf-8").split()


def read_themed(corpus_dir: Path, split: str) -> list[tuple[str, str]]:
    """(theme, poem) pairs of one split; the theme is "" where the title said nothing."""
    poems = read_split(corpus_dir, split)
    path = corpus_dir / f"{split}.titles.txt"
    if not path.exists():  # a corpus built before titles were kept
        return [("", p) for p in poems]
    themes = path.read_text(encoding="utf-8").split("\n")[: len(poems)]
    if len(themes) != len(poems):
        raise ValueError(f"{path} does not match {split}.txt; rebuild the corpus")
    return list(zip(themes, poems, strict=True))


def _write_atomic(path: Path, body: str) -> None:
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(path)


def corpus_fingerprint(corpus_dir: Path) -> str:
    """The fingerprint recorded in stats.json when the corpus was built."""
    return json.loads((corpus_dir / "stats.json").read_text())["fingerprint"]
