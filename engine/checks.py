"""Compliance of a finished poem: acrostic, form, 平水韵 rhyme, 平仄 agreement; and its footer."""

from __future__ import annotations

from engine.forms import rhyme_lines, tone_agreement
from engine.prosody import Prosody

FORMS = {5: "五言", 7: "七言"}


def shared_rhyme(prosody: Prosody, lines: list[str]) -> str | None:
    """The 平 group shared by the last characters of the even lines, or None if there is none
    (by the readings `prosody` rhymes in: Prosody.load() takes only attested ones)."""
    ends = [lines[i][-1] for i in rhyme_lines(len(lines))]
    if not ends:
        return None
    common = None
    for ch in ends:
        names = prosody.ping_group_names(ch)
        common = names if common is None else common & names
    if not common:
        return None
    order = [g.name for g in prosody.ping_groups]
    return min(common, key=order.index)


def poem_checks(
    prosody: Prosody, head: str, lines: list[str], chars_per_line: int, at: int = 0
) -> dict:
    """e.g. {"acrostic": True, "form": "七言", "rhyme": "十一真", "tones": "26/28"}."""
    acrostic = len(lines) == len(head) and all(
        len(line) > at and line[at] == ch for ch, line in zip(head, lines, strict=False)
    )
    form_ok = all(len(line) == chars_per_line for line in lines)
    fit, total = tone_agreement(prosody.tones, lines, chars_per_line)
    return {
        "acrostic": acrostic,
        "form": FORMS[chars_per_line] if form_ok else None,
        "rhyme": shared_rhyme(prosody, lines) if len(lines) > 1 else None,
        "rhyme_applicable": len(lines) > 1,
        "even_ping": all(prosody.is_ping(lines[i][-1]) for i in rhyme_lines(len(lines))),
        "tones": f"{fit}/{total}",
    }


def footer(checks: dict) -> str:
    """One line for chat replies, e.g. '藏头✓ 七言✓ 平水韵·十一真✓ 平仄26/28'."""
    parts = [f"{checks.get('position', '藏头')}{'✓' if checks['acrostic'] else '✗'}"]
    parts.append(f"{checks['form']}✓" if checks["form"] else "格律✗")
    if checks.get("rhyme_applicable", True):
        parts.append(f"平水韵·{checks['rhyme']}✓" if checks["rhyme"] else "平水韵✗")
    parts.append(f"平仄{checks['tones']}")
    return " ".join(parts)
