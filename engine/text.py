"""Character classes and script conversion shared by the engine and the corpus builder."""

from __future__ import annotations

import functools
import unicodedata

import opencc

COMMA, PERIOD = "，", "。"


def is_han(ch: str) -> bool:
    """True for a single CJK ideograph (the basic block and extensions A-G, compatibility forms)."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x323AF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Mn", "Me"})


def escape_invisible(text: str) -> str:
    """User text safe to echo or log: controls, bidi and other format characters, combining
    marks and variation selectors (nobody can see them, and some reorder what follows) as
    U+XXXX."""
    return "".join(
        f"U+{ord(ch):04X}" if unicodedata.category(ch) in INVISIBLE else ch for ch in text
    )


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s); other characters pass through."""
    return _converter("t2s").convert(text)


def to_traditional(text: str) -> str:
    """Simplified → traditional Chinese (OpenCC s2t)."""
    return _converter("s2t").convert(text)


def normalize_width(text: str) -> str:
    """Full-width ASCII forms → half-width (NFKC on those code points only)."""
    return "".join(
        unicodedata.normalize("NFKC", ch) if 0xFF01 <= ord(ch) <= 0xFF5E or ch == "\u3000" else ch
        for ch in text
    )
