"""Poem ids as users see them: the row id in base 36 (#1a)."""

from __future__ import annotations

import re

POEM_ID = re.compile(r"^#?([0-9a-z]{1,10})$")


def to_base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def from_base36(text: str) -> int | None:
    """'#1a' or '1a' → 46; None for anything that is not a short poem id."""
    match = POEM_ID.fullmatch(text.strip().lower())
    return int(match.group(1), 36) if match else None
