"""The model's clichés: character 3-grams its default search writes far more often than real
poems do. Measured on generated heads (never the public or held-out ones) and stored in the
model directory, where the search reads them as soft penalties."""

from __future__ import annotations

import collections
import math
import random
from collections.abc import Iterable

from engine.checkpoint import load_model_dir, resave
from engine.poet import Poet, SearchWeights
from train.corpus import clean_title
from train.heldout import is_excluded

# Panel 2026-11-27-tune-cliches: 0.5% / 2× tied 1% / 3× (54:55, 58:49) with 1.3% shared
# 3-grams on the public heads against 3.0%, so the stricter thresholds are the default.
MIN_SHARE = 0.005  # written in at least 0.5% of the generated poems …
MIN_RATIO = 2.0  # … and at least 2× as often as real poems write it
MIN_POEMS = 3  # … and in at least 3 of them (a smaller run than 600 heads finds no noise)
HEADS, ROUNDS = 600, 6  # generated heads per round, rounds
MAX_NATS = 3.0  # the largest penalty one cliché gets
# Theme rounds: heads taken from corpus titles, as people ask for themes (秋分, 西湖 …). There
# the head is also the theme, and themed formulas show: 秋 opens 秋风萧瑟 in most autumn lines,
# yet 秋 heads one random line in 1,500, so the random-head rounds never catch it. Measured on
# the second v2 checkpoint, public heads: shared 3-grams 2.48% → 1.55% with 2 rounds of 800.
THEME_HEADS, THEME_ROUNDS = 800, 2  # title heads per round, rounds
MIN_OPENING_SHARE = 0.25  # an opening written in at least a quarter of its character's lines …
MIN_OPENING_LINES = 3  # … at least 3 times, and MIN_RATIO× as often as real lines open so


def trigrams(lines: Iterable[str]) -> set[str]:
    """The distinct character 3-grams of a poem's lines (never across a line break)."""
    return {line[i : i + 3] for line in lines for i in range(len(line) - 2)}


def poem_lines(text: str) -> list[str]:
    return [line for line in text.replace("。", "，").split("，") if line]


def measurement_heads(poems: list[str], n: int, seed: int = 0) -> list[str]:
    """`n` four-character heads drawn from the 1,500 most frequent corpus characters, never a
    public or held-out head (train.heldout)."""
    counts = collections.Counter(ch for p in poems for ch in p if ch not in "，。")
    common = [ch for ch, _ in counts.most_common(1500)]
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        head = "".join(rng.sample(common, min(4, len(common))))
        if not is_excluded(head):
            out.append(head)
    return out


def title_pool(titles: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """The distinct cleaned corpus titles of 2–4 basic-block Han characters, never one of
    `exclude` nor a public or held-out head, sorted."""
    skip = set(exclude)
    pool = {clean_title(t) for t in set(titles)}
    return sorted(
        t for t in pool
        if 2 <= len(t) <= 4 and t not in skip and _basic(t) and not is_excluded(t)
    )  # fmt: skip


def title_heads(pool: list[str], n: int, seed: int) -> list[str]:
    """`n` heads drawn from a title_pool."""
    return random.Random(seed).sample(pool, min(n, len(pool)))


def _basic(text: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in text)


def find_openings(
    generated: list[list[str]],
    real: list[list[str]],
    min_share: float = MIN_OPENING_SHARE,
    min_lines: int = MIN_OPENING_LINES,
    min_ratio: float = MIN_RATIO,
) -> dict[str, float]:
    """Line openings (a line's first 3 characters) → penalty in nats: log(model share /
    real share), each share among the lines that start with the same character."""
    model = collections.Counter(line[:3] for lines in generated for line in lines)
    model_first = collections.Counter(line[0] for lines in generated for line in lines)
    human = collections.Counter(line[:3] for lines in real for line in lines)
    human_first = collections.Counter(line[0] for lines in real for line in lines)
    out = {}
    for gram, n in model.items():
        s = n / model_first[gram[0]]
        if n < min_lines or s < min_share or len(gram) < 3:
            continue
        starts = human_first.get(gram[0], 0)
        ratio = s / max(human.get(gram, 0) / max(starts, 1), 1 / max(starts, 1))
        if ratio >= min_ratio:
            out[gram] = round(min(MAX_NATS, math.log(ratio)), 3)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def share(poems: list[list[str]]) -> collections.Counter[str]:
    """3-gram → the share of poems that contain it."""
    counts = collections.Counter(g for lines in poems for g in trigrams(lines))
    return collections.Counter({g: c / max(len(poems), 1) for g, c in counts.items()})


def find_cliches(
    generated: list[list[str]], real: list[list[str]], min_share=MIN_SHARE, min_ratio=MIN_RATIO
) -> dict[str, float]:
    """3-gram → penalty in nats: log(model share / real share), capped at MAX_NATS."""
    model, human = share(generated), share(real)
    floor = 1 / max(len(real), 1)  # an n-gram real poems never wrote counts as one poem
    least = max(min_share, MIN_POEMS / max(len(generated), 1))
    out = {}
    for gram, s in model.items():
        ratio = s / max(human.get(gram, 0.0), floor)
        if s >= least and ratio >= min_ratio:
            out[gram] = round(min(MAX_NATS, math.log(ratio)), 3)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def measure(
    model_dir,
    corpus_poems: list[str],
    heads: int = 200,
    seed: int = 0,
    rounds: int = 3,
    min_share: float = MIN_SHARE,
    min_ratio: float = MIN_RATIO,
    *,
    titles: Iterable[str] = (),
    theme_rounds: int = THEME_ROUNDS,
    theme_heads: int = THEME_HEADS,
    start: dict[str, float] | None = None,
    note: dict | None = None,
) -> dict:
    """Write the default search's poems for generated heads, compare their 3-grams with real
    poems', and store the clichés in the model directory. Each further round writes poems for
    fresh heads with the clichés found so far penalised, and adds the new formulas that took
    their place. Then `theme_rounds` rounds of title heads (title_pool; none without titles)
    add both the overall clichés and the line openings per head character (find_openings).
    `start` seeds the table (a retrain starts from its parent's); `note` is recorded with it.
    Public and held-out heads are never drawn. Returns what was stored."""
    real = [poem_lines(p) for p in corpus_poems]
    found: dict[str, float] = dict(start or {})
    per_round = []
    plan = [(True, measurement_heads(corpus_poems, heads, seed + r)) for r in range(rounds)]
    pool = title_pool(titles)
    if pool:
        plan += [
            (False, title_heads(pool, theme_heads, seed + 100 + r)) for r in range(theme_rounds)
        ]
    for overall, round_heads in plan:
        poet = Poet(_with_cliches(load_model_dir(model_dir), found))
        weights = SearchWeights(cliche_weight=1.0 if found else 0.0)
        generated = [
            poet.acrostic(head, chars_per_line=(5, 7)[i % 2], search=weights).lines
            for i, head in enumerate(round_heads)
        ]
        new = find_cliches(generated, real, min_share, min_ratio)
        if not overall:
            new = {**find_openings(generated, real, min_ratio=min_ratio), **new}
        per_round.append(len(set(new) - set(found)))
        for gram, nats in new.items():
            found[gram] = max(found.get(gram, 0.0), nats)
    record = {
        "ngrams": dict(sorted(found.items(), key=lambda kv: -kv[1])),
        "heads": heads,
        "rounds": rounds,
        "theme_rounds": theme_rounds if pool else 0,
        "theme_heads": theme_heads if pool else 0,
        "new_per_round": per_round,
        "real_poems": len(real),
        "min_share": min_share,
        "min_ratio": min_ratio,
        **(note or {}),
    }
    resave(load_model_dir(model_dir), {"cliches": record})
    return record


def _with_cliches(loaded, ngrams: dict[str, float]):
    loaded.meta = {**loaded.meta, "cliches": {"ngrams": dict(ngrams)}}
    return loaded
