"""Acrostic heads: normalisation, validation, and fallbacks for characters the model never saw."""

from __future__ import annotations

import functools
import unicodedata

from engine.text import escape_invisible, is_han, normalize_width, to_simplified, to_traditional
from engine.vocab import UNK, Vocab

MAX_HEAD = 12


class HeadError(ValueError):
    """A head that cannot be turned into an acrostic; the message says why, naming characters."""


class ThemeError(HeadError):
    """A theme phrase that is not 1–12 Han characters; a HeadError, so callers answer alike."""


class KeywordError(HeadError):
    """A 意象 keyword that is not 1–3 Han characters, or more keywords than lines."""


MAX_KEYWORD = 3  # characters of one keyword: it must fit a 五言 line beside the head


def _strippable(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith(("P", "Z"))


def normalize_head(raw: str) -> str:
    """Strip spaces and punctuation, unify widths, convert traditional → simplified, validate.

    Returns 1–12 Han characters or raises HeadError naming what is wrong.
    """
    return _normalize(raw, HeadError, "藏头", "the head")


def normalize_theme(raw: str) -> str:
    """A theme phrase, normalised and validated exactly like a head (1–12 Han characters);
    raises ThemeError naming what is wrong."""
    return _normalize(raw, ThemeError, "主题", "the theme")


def normalize_keywords(raw, lines: int) -> tuple[str, ...]:
    """The user's 意象: each normalised like a theme and 1–3 characters, one a line at most
    ('' keeps a line free for the planner); raises KeywordError naming what is wrong."""
    words = tuple(_normalize(w, KeywordError, "意象", "a keyword") if w else "" for w in raw)
    long = [w for w in words if len(w) > MAX_KEYWORD]
    if long:
        raise KeywordError(
            f"意象「{long[0]}」太长：每个最多 {MAX_KEYWORD} 个字 (a keyword has at most {MAX_KEYWORD} characters)"
        )
    if len(words) > lines:
        raise KeywordError(
            f"意象太多：{len(words)} 个，这首诗只有 {lines} 行 ({len(words)} keywords for {lines} lines)"
        )
    return words


def _assigned(ch: str) -> bool:
    return unicodedata.category(ch) == "Lo"


def _normalize(raw: str, error: type[HeadError], zh: str, en: str) -> str:
    text = "".join(ch for ch in normalize_width(raw or "") if not _strippable(ch))
    if not text:
        raise error(f"{zh}为空：请给出 1–12 个汉字 ({en} is empty: give 1–12 Chinese characters)")
    # an assigned ideograph only: unassigned code points and noncharacters inside the CJK
    # blocks (U+2FFFF, U+2A6E0) have no glyph, no reading, and no place in a poem
    bad = list(dict.fromkeys(ch for ch in text if not is_han(ch) or not _assigned(ch)))
    if bad:
        shown = "、".join(escape_invisible(ch) for ch in bad)
        raise error(
            f"{zh}只能是汉字，这些不是：{shown} ({en} must be Chinese characters; not: {shown})"
        )
    if len(text) > MAX_HEAD:
        raise error(
            f"{zh}太长：{len(text)} 个字，最多 {MAX_HEAD} 个 ({en} is too long: {len(text)} characters, at most {MAX_HEAD})"
        )
    simplified = to_simplified(text)
    if len(simplified) != len(text):  # a phrase rule changed the length: convert one by one
        simplified = "".join(to_simplified(ch)[:1] or ch for ch in text)
    return simplified


class Fallbacks:
    """Conditioning stand-ins for head characters missing from a vocabulary."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab

    @functools.cached_property
    def _by_pinyin(self) -> dict[str, str]:
        from pypinyin import Style, lazy_pinyin

        table: dict[str, str] = {}
        first = self.vocab.first_char_id
        for token in self.vocab.tokens[first:]:  # most frequent first: the first one seen wins
            for style in (Style.TONE3, Style.NORMAL):
                key = f"{style.name}:{lazy_pinyin(token, style=style)[0]}"
                table.setdefault(key, token)
        return table

    def resolve(self, ch: str) -> tuple[str, str]:
        """(token to condition on, how it was found): 'exact', 'variant', 'pinyin' or 'unk'."""
        if ch in self.vocab:
            return ch, "exact"
        for variant in (to_simplified(ch), to_traditional(ch)):
            if len(variant) == 1 and variant in self.vocab:
                return variant, "variant"
        from pypinyin import Style, lazy_pinyin

        for style in (Style.TONE3, Style.NORMAL):
            reading = lazy_pinyin(ch, style=style, errors="ignore")
            if reading:
                found = self._by_pinyin.get(f"{style.name}:{reading[0]}")
                if found:
                    return found, "pinyin"
        return UNK, "unk"
