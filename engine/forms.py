"""近体诗 forms: which slots rhyme and the 平仄 patterns (平起 / 仄起) for 五言 and 七言 lines."""

from __future__ import annotations

from engine.prosody import PING, ZE

# 五言 line patterns; 仄起 poems run A B C D, 平起 poems C D A B, and 8+ lines repeat the cycle
# (which keeps 粘对: each line's second character sticks to the tone of the line before).
_A, _B, _C, _D = "仄仄平平仄", "平平仄仄平", "平平平仄仄", "仄仄仄平平"
CYCLES = {"仄起": (_A, _B, _C, _D), "平起": (_C, _D, _A, _B)}
STARTS = tuple(CYCLES)


def start_label(start: str, chars_per_line: int) -> str:
    """平起 or 仄起 by the tone of the first line's second character (七言 flips the 五言 name)."""
    return "平起" if line_pattern(start, 0, chars_per_line)[1] == PING else "仄起"


def _flip(tone: str) -> str:
    return PING if tone == ZE else ZE


def line_pattern(start: str, line: int, chars_per_line: int) -> str:
    """The full 平仄 pattern of one line (0-based) of a poem with the given start."""
    five = CYCLES[start][line % 4]
    if chars_per_line == 5:
        return five
    lead = _flip(five[1])  # 七言 = two characters of the opposite tone + the 五言 pattern
    return lead * 2 + five


def strict_positions(chars_per_line: int) -> tuple[int, ...]:
    """0-based positions held by 二四六分明 (the 2nd, 4th and 6th characters)."""
    return (1, 3) if chars_per_line == 5 else (1, 3, 5)


def rhyme_lines(n_lines: int) -> list[int]:
    """0-based lines whose last characters rhyme: the even lines of the poem (2nd, 4th, …)."""
    return [i for i in range(n_lines) if i % 2 == 1]


def distinct_end_lines(n_lines: int) -> list[int]:
    """0-based lines that may never end in the same character: the rhyming lines and the first
    line, which rhymes too in most 七言 quatrains (首句入韵)."""
    return sorted({0, *rhyme_lines(n_lines)}) if n_lines else []


def line_start_slots(n_lines: int, chars_per_line: int) -> list[int]:
    """Skeleton slot of each line's first character (a line is its characters plus a mark)."""
    return [i * (chars_per_line + 1) for i in range(n_lines)]


def tone_slots(n_lines: int, chars_per_line: int, start: str) -> dict[int, str]:
    """slot → required tone under one start: 二四六 positions, and 仄 at the end of the odd,
    non-first lines (the even lines' ends are covered by the rhyme)."""
    out: dict[int, str] = {}
    for line, first in enumerate(line_start_slots(n_lines, chars_per_line)):
        pattern = line_pattern(start, line, chars_per_line)
        for pos in strict_positions(chars_per_line):
            out[first + pos] = pattern[pos]
        if line % 2 == 0 and line > 0:
            out[first + chars_per_line - 1] = ZE
    return out


def tone_agreement(tones_of, lines: list[str], chars_per_line: int) -> tuple[int, int]:
    """(characters whose tone fits the better-fitting start's full pattern, characters).

    `tones_of(ch)` returns the set of tones of a character; a 多音字 fits either tone, and a
    character the table does not know fits neither.
    """
    total = sum(len(line) for line in lines)
    best = 0
    for start in STARTS:
        fit = 0
        for i, line in enumerate(lines):
            pattern = line_pattern(start, i, chars_per_line)
            fit += sum(pattern[p] in tones_of(ch) for p, ch in enumerate(line))
        best = max(best, fit)
    return best, total
