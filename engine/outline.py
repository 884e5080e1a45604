"""The planner: a head phrase (and a theme, and the user's own 意象) → an outline, one keyword
per line, drawn from the head's meaning. (engine.poet.Plan is something else: a request made
ready for a search.)

Where the keywords come from, strongest first, for each topic word (the theme's words before the
head's: for 王小明 主题:生日 the birthday, not the name's characters):
1. the 意象 lexicon (train/imagery.toml): a trigger word → its category's imagery;
2. the corpus titles: the keywords of poems whose title holds the word (送别 → 长亭, 杨柳);
3. the word itself when poems use it as a keyword (春风), and its neighbours there;
4. for a word none of these know (咖啡, 数据): the keywords holding its characters.
The pool is then widened by the neighbours of its best words, so the keywords belong together.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from engine.heads import KeywordError
from engine.text import is_han

WEIGHTS = {"user": 10.0, "lexicon": 3.0, "title": 1.5, "itself": 2.0, "neighbour": 0.6,
           "chars": 0.4, "widen": 0.3}  # fmt: skip
SAMPLE_TOP = 8  # a redraw (🔄) samples each line's keyword among this many
# Function characters: a word holding one (如今, 方知, 切莫, 为君) is grammar, not imagery, even
# where jieba tags it a noun; the planner never proposes one (the user still may).
FUNCTION = frozenset(
    "不何如方切莫为自已未犹又亦更还只但皆俱总岂焉乎矣也之其此彼谁孰几勿休须应当曾将欲且乃则即便"
)


@dataclass(frozen=True)
class Outline:
    """One keyword per line ('' where a line has none), and where they came from."""

    keywords: tuple[str, ...]
    source: str = "planner"  # "planner", "user", or "user+planner"

    def shown(self) -> str:
        """意象：登科 · 杏园 · 长安 · 春风"""
        return " · ".join(k for k in self.keywords if k)


def segment(text: str) -> list[str]:
    import rjieba

    return [w for w in rjieba.cut(text) if w and all(is_han(ch) for ch in w)]


class Planner:
    """Outlines from a model's plan data (plan.json) and its vocabulary."""

    def __init__(self, data: dict, known: set[str]):
        self.data, self.known = data, known
        self.triggers = data.get("triggers", {})
        self.categories = data.get("categories", {})

    def writable(self, word: str, own: bool = False) -> bool:
        """A word the model can write; a proposed one holds no function character."""
        if own:
            return len(word) >= 1 and all(ch in self.known and is_han(ch) for ch in word)
        return len(word) >= 2 and all(
            ch in self.known and is_han(ch) and ch not in FUNCTION for ch in word
        )

    def grounded(self, head: str, theme: str | None) -> bool:
        """Whether the lexicon knows what the head or the theme is about. Panel 2026-12-06:
        on held-out heads the lexicon's keywords held relevance (+0.1) while keywords drawn
        from corpus statistics alone cost it (−0.5): v2c already writes a classical phrase's
        own imagery, and a statistical neighbour only distracts it."""
        texts = [(t, halves) for t, halves in ((theme, True), (head, False)) if t]
        return any(self.triggers.get(w) for t, h in texts for w in self._topic_words(t, h))

    def pool(self, head: str, theme: str | None, keywords: tuple[str, ...] = ()) -> dict:
        """keyword → score, from the topic words (the user's keywords, the theme's, the
        head's); a theme takes precedence over the head's characters."""
        scores: dict[str, float] = defaultdict(float)

        def add(words, weight, own=False):
            for rank, word in enumerate(words):
                if self.writable(word, own):
                    scores[word] += weight / (1 + 0.15 * rank)

        for word in keywords:
            add([word], WEIGHTS["user"], own=True)
            add(
                [w for w, _ in self.data.get("neighbours", {}).get(word, [])], WEIGHTS["neighbour"]
            )
        topics = [(theme, 1.0, True)] if theme else []  # (text, weight, read by halves)
        topics.append((head, 0.35 if theme else 1.0, False))
        for text, factor, halves in topics:
            for word in self._topic_words(text, halves):
                self._expand(word, factor, add)
        best = sorted(scores, key=lambda w: -scores[w])[:6]
        for word in best:
            add([w for w, _ in self.data.get("neighbours", {}).get(word, [])], WEIGHTS["widen"])
        return dict(scores)

    def _topic_words(self, text: str, halves: bool = False) -> list[str]:
        """The whole phrase when it is a trigger (金榜题名), then its words; with `halves` (a
        theme) a four-character word the lexicon does not know also as its halves (主题:生日快乐
        → 生日, 快乐). A head's idioms stay whole: planned from their own words (head_words)."""
        whole = [text] if text in self.triggers else []
        words = [w for w in segment(text) if w not in whole]  # a repeated one counts again (岁岁)
        for word in words if halves else ():
            if len(word) == 4 and word not in self.triggers:
                whole += [w for w in (word[:2], word[2:]) if w not in words and w not in whole]
        return whole + words

    def _expand(self, word: str, factor: float, add) -> None:
        found = False
        for name in self.triggers.get(word, []):
            add(self.categories.get(name, []), WEIGHTS["lexicon"] * factor)
            found = True
        titled = self.data.get("title_words", {}).get(word, [])
        add(titled, WEIGHTS["title"] * factor)
        if word in self.data.get("counts", {}):
            add([word], WEIGHTS["itself"] * factor)
            near = self.data.get("neighbours", {}).get(word, [])
            add([w for w, _ in near], WEIGHTS["neighbour"] * factor)
        if not (found or titled or word in self.data.get("counts", {})):
            for ch in word:  # a modern word: its characters' classical senses
                for name in self.triggers.get(ch, []):
                    add(self.categories.get(name, []), WEIGHTS["lexicon"] * factor * 0.5)
                add(self.data.get("char_words", {}).get(ch, []), WEIGHTS["chars"] * factor)

    def outline(
        self,
        head: str,
        chars_per_line: int,
        theme: str | None = None,
        keywords: tuple[str, ...] = (),
        seed: int = 0,
    ) -> Outline:
        """One keyword per head character. The user's keywords go first, in order; the rest
        come from the pool, greedily (seed 0) or drawn among the best (a redraw); see _fits.
        A keyword avoids another line's head character where it can. Without grounding in the
        lexicon (grounded) the planner adds only the head's own words (head_words), and none
        when a theme is given (the head is then a name, not what the poem is about)."""
        rng = random.Random(seed) if seed else None
        own = list(keywords)  # line i's own keyword ('' where the user gave none it can use)
        taken = [k for k in own if k]  # the user's, whichever line: never planned again
        if not self.grounded(head, theme):  # no statistics: the head's own words at most
            lines = [*own, *[""] * len(head)][: len(head)]
            words = self.head_words(head) if theme is None else []
            planned = []
            for k, w in zip(lines, words, strict=False):  # each word once (生日快乐生日快乐)
                fresh = not k and w and w not in taken and w not in planned
                planned.append(w if fresh else "")
            lines = [k or w for k, w in zip(lines, [*planned, *[""] * len(head)], strict=False)]
            given = sum(bool(k) for k in own[: len(head)])
            source = "user+planner" if given and any(planned) else "user" if given else "planner"
            return Outline(tuple(lines), source)
        scores = self.pool(head, theme, tuple(k for k in own if k))
        ranked = sorted(scores, key=lambda w: (-scores[w], w))
        chosen: list[str] = []
        used: set[str] = set("".join(taken))
        for i, ch in enumerate(head):
            others = set(head) - {ch}
            if i < len(own) and own[i]:
                chosen.append(own[i])
                continue
            fits = [w for w in ranked if self._fits(w, ch, chars_per_line, used, chosen + taken)]
            spare = [w for w in fits if not set(w) & others]  # no other line's head in it
            if not fits:
                chosen.append("")
                continue
            fits = spare or fits
            word = rng.choice(fits[:SAMPLE_TOP]) if rng else fits[0]
            chosen.append(word)
            used |= set(word)
        given = sum(bool(k) for k in own)
        source = "planner" if not given else "user" if given >= len(head) else "user+planner"
        return Outline(tuple(chosen), source)

    def head_words(self, head: str) -> list[str]:
        """Per line, the head's own word that opens it ('' for none): 竹林听雨 → 竹林, '',
        听雨, ''. A four-character idiom counts as its two halves (细水长流 → 细水, 长流).
        Words of two characters the model can write, none a function word (如面, 不改)."""
        out = [""] * len(head)
        at = 0
        for word in segment(head):
            start = head.find(word, at)
            if start < 0:
                continue
            at = start + len(word)
            parts = [word] if len(word) == 2 else [word[:2], word[2:]] if len(word) == 4 else []
            for k, part in enumerate(parts):  # two characters: room in any line
                if part[0] != part[1] and self.writable(part):
                    out[start + 2 * k] = part
        return out

    @staticmethod
    def _fits(word: str, head: str, chars_per_line: int, used: set[str], chosen) -> bool:
        """Room beside the head, no character an earlier keyword used, the line's own head
        only where the line begins (the keyword then opens the line)."""
        return (
            len(word) < chars_per_line + (word[0] == head)
            and not set(word) & used
            and word not in chosen
            and (head not in word or word[0] == head)
        )


def draw_outline(planner: Planner | None, vocab, spec) -> Outline | None:
    """The outline a poem is searched with: the user's keywords first, the planner's for the
    other lines (when the model has plan data and spec.outline is on); None: no keywords.
    A keyword holding a character the model cannot write is refused (KeywordError); a theme
    that is the head itself plans as no theme does."""
    for word in spec.keywords:
        if missing := [ch for ch in word if ch not in vocab]:
            raise KeywordError(
                f"意象「{word}」里的「{missing[0]}」写不出：请换一个词 "
                f"(the model cannot write {missing[0]} in {word})"
            )
    own = tuple(spec.keywords)
    theme = None if spec.theme == spec.head else spec.theme
    if planner is not None and spec.outline:
        outline = planner.outline(
            spec.head, spec.chars_per_line, theme, own, spec.plan_seed
        )  # fmt: skip
    elif any(own):
        outline = Outline(own + ("",) * (len(spec.head) - len(own)), "user")
    else:
        return None
    return outline if any(outline.keywords) else None


def outline_ids(vocab, outline: Outline | None) -> tuple[tuple, tuple]:
    """(per line, the keyword's ids for the search's rule; per line, what is fed right before
    it: the keyword and <kw> for a model trained with plans, nothing otherwise)."""
    if outline is None:
        return (), ()
    ids = tuple(tuple(vocab.id(ch) for ch in w) for w in outline.keywords)
    feeds = tuple(tuple(vocab.keyword_ids([w])) for w in outline.keywords) if vocab.planned else ()
    return ids, feeds
