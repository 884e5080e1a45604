"""The plan data of a model: the 意象 lexicon (train/imagery.toml) compiled with corpus statistics
into `plan.json` in the model directory, which engine.outline's planner reads.

- the lexicon: triggers → categories → imagery, kept to words the corpus writes (≥ 5 lines);
- keyword neighbours: for each frequent line keyword, the keywords most associated with it in
  the same poems (cosine, at least 3 shared poems), the imagery that belongs together;
- title words: for each word of the corpus titles (送别, 寄内, 寿 …), the line keywords its poems
  use far more often than others (lift), titles ↔ poem words;
- character words: for each character, the keywords that contain it, the fallback for a modern
  word (咖啡, 数据) that is in no lexicon: its characters' classical senses.
Ties are broken by the word, so a build writes the same plan.json every time.
"""

from __future__ import annotations

import collections
import json
import math
import tomllib
from pathlib import Path

from train.corpus import read_themed
from train.keywords import read_keywords

LEXICON = Path(__file__).with_name("imagery.toml")
FORMAT = 1
MIN_LINES = 5  # an imagery word the corpus writes fewer times is dropped
NEIGHBOUR_WORDS, NEIGHBOURS, MIN_SHARED = 12000, 12, 3
TITLE_MIN_POEMS, TITLE_WORDS, TITLE_KEYWORDS = 8, 4000, 16
TITLE_MIN_USES = 30  # a title's keyword must be common imagery, not the title's own rarity
CHAR_WORDS = 8


def read_lexicon(path: Path = LEXICON) -> dict[str, dict]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def compile_lexicon(lexicon: dict[str, dict], counts: collections.Counter) -> dict:
    """Categories with the imagery the corpus writes, and trigger → categories."""
    categories, triggers = {}, collections.defaultdict(list)
    for name, entry in lexicon.items():
        imagery = [w for w in dict.fromkeys(entry["imagery"]) if counts[w] >= MIN_LINES]
        categories[name] = imagery
        for word in entry["triggers"]:
            triggers[word].append(name)
    return {"categories": categories, "triggers": dict(triggers)}


def neighbours(poem_words: list[set[str]], counts: collections.Counter) -> dict:
    """keyword → its most associated keywords in the same poems, by cosine (shared poems over
    the geometric mean of each one's poems: PMI alone favours pairs of rare words)."""
    top = {w for w, _ in counts.most_common(NEIGHBOUR_WORDS)}
    pairs: collections.Counter = collections.Counter()
    for words in poem_words:
        kept = sorted(words & top)
        pairs.update((a, b) for i, a in enumerate(kept) for b in kept[i + 1 :])
    per = collections.defaultdict(list)
    for (a, b), c in pairs.items():
        if c < MIN_SHARED:
            continue
        cosine = c / math.sqrt(counts[a] * counts[b])
        per[a].append((b, cosine))
        per[b].append((a, cosine))
    return {
        w: [[v, round(s, 3)] for v, s in sorted(vs, key=lambda x: -x[1])[:NEIGHBOURS]]
        for w, vs in sorted(per.items())
    }


def title_words(titles: list[str], poem_words: list[set[str]], counts) -> dict:
    """title word → the line keywords its poems use most above their base rate (lift)."""
    import rjieba

    by_word = collections.defaultdict(list)
    for i, title in enumerate(titles):
        for word in set(rjieba.cut(title)):
            if len(word) >= 1 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
                by_word[word].append(i)
    common = sorted(by_word, key=lambda w: (-len(by_word[w]), w))[:TITLE_WORDS]
    n = max(len(poem_words), 1)
    out = {}
    for word in sorted(common):
        poems = by_word[word]
        if len(poems) < TITLE_MIN_POEMS:
            continue
        inside = collections.Counter(v for i in poems for v in poem_words[i])
        lift = {
            v: (c / len(poems)) / (counts[v] / n)
            for v, c in inside.items()
            if c >= 3 and counts[v] >= TITLE_MIN_USES and v != word
        }
        score = {v: lift[v] * math.log1p(inside[v]) for v in lift}
        best = sorted(lift, key=lambda v: (-score[v], v))[:TITLE_KEYWORDS]  # ties: by word
        if best:
            out[word] = best
    return out


def char_words(counts: collections.Counter) -> dict:
    per = collections.defaultdict(list)
    for word, _ in counts.most_common():
        for ch in set(word):
            if len(per[ch]) < CHAR_WORDS:
                per[ch].append(word)
    return dict(sorted(per.items()))


def build_plan_data(corpus: Path, lexicon: Path = LEXICON) -> dict:
    """Everything plan.json holds, from the corpus's train split and the lexicon."""
    themed = read_themed(corpus, "train")
    plans = read_keywords(corpus, "train")
    poem_words = [{w for w in plan if w} for plan in plans]
    counts = collections.Counter(w for plan in plans for w in plan if w)  # lines
    poems = collections.Counter(w for words in poem_words for w in words)
    return {
        "format": FORMAT,
        **compile_lexicon(read_lexicon(lexicon), counts),
        "neighbours": neighbours(poem_words, poems),
        "title_words": title_words([t for t, _ in themed], poem_words, poems),
        "char_words": char_words(counts),
        "counts": {w: c for w, c in counts.items() if c >= MIN_LINES},
    }


def write_plan_data(model_dir: Path, corpus: Path, lexicon: Path = LEXICON) -> dict:
    """Build the plan data into MODEL/plan.json (and its checksum into model.json)."""
    from engine.checkpoint import load_model_dir, resave

    data = build_plan_data(corpus, lexicon)
    loaded = load_model_dir(model_dir)
    resave(loaded, {}, plan_data=data)
    sizes = {k: len(v) for k, v in data.items() if isinstance(v, dict)}
    return {"model": str(model_dir), **sizes}


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
