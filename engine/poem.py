"""A finished poem, and the re-checks of its guarantees before anything is returned."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.forms import distinct_end_lines
from engine.rules import repeated_rhyme_ends, repeated_trigrams
from engine.text import COMMA, PERIOD, is_han


def punctuate(lines: list[str]) -> str:
    """'，' after even lines, '。' after odd ones and always after the last."""
    last = len(lines) - 1
    return "".join(
        line + (COMMA if i % 2 == 0 and i != last else PERIOD) for i, line in enumerate(lines)
    )


@dataclass(frozen=True)
class Poem:
    head: str
    lines: list[str]
    text: str
    model_version: str
    score: float
    params: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)

    def display_lines(self) -> list[str]:
        """Each line with its punctuation mark, for printing one line per row."""
        marks = [ch for ch in self.text if ch in (COMMA, PERIOD)]
        return [line + mark for line, mark in zip(self.lines, marks, strict=True)]

    def to_dict(self) -> dict:
        return {
            "head": self.head,
            "lines": list(self.lines),
            "text": self.text,
            "model_version": self.model_version,
            "score": round(self.score, 4),
            "params": self.params,
            "checks": self.checks,
        }


def check_formula(lines: list[str], forced_rhymes: bool, relaxed: list[str]) -> None:
    """Re-check the anti-formula rules; raise AssertionError if one is broken unrelaxed."""
    if "formula" in relaxed:
        return
    if repeated_trigrams(lines):
        raise AssertionError(f"3-gram repeated: {repeated_trigrams(lines)}")
    if repeated_rhyme_ends(lines, distinct_end_lines(len(lines))) and not forced_rhymes:
        raise AssertionError("two rhyming lines (or line 1) end in the same character")


def check_acrostic(head: str, lines: list[str], text: str, chars_per_line: int, at: int) -> None:
    """Re-check the guarantees of an acrostic; raise AssertionError if any is broken."""
    if len(lines) != len(head):
        raise AssertionError(f"{len(lines)} lines for a head of {len(head)}")
    for ch, line in zip(head, lines, strict=True):
        if len(line) != chars_per_line or line[at] != ch or not all(is_han(c) for c in line):
            raise AssertionError(f"bad line {line!r} for head character {ch!r}")
    if text != punctuate(lines):
        raise AssertionError("punctuation does not alternate ，/。 ending in 。")
